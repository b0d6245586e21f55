//! The sqlited gRPC contract, generated from `proto/sqlited/v1/*.proto`.
//!
//! Layout:
//! - `sqlited/v1/values.proto`: `Value`, `Statement`, `Column`, `Row` — the data model.
//! - `sqlited/v1/database.proto`: the `Database` service (Execute, Query, ExecuteBatch,
//!   Begin, Commit, Rollback, and Session: all of them on one bidirectional stream).
//! - `sqlited/v1/admin.proto`: the `Admin` service (ListDatabases, Checkpoint, Optimize,
//!   Vacuum, Backup).
//! - `sqlited/v1/kv.proto`: the `KeyValue` service: persistent maps of bytes.
//! - `sqlited/v1/statements.proto`: the `Statements` service: exposed, typed statements.
//! - [`v1`]: the generated messages, clients and servers.
//! - [`codec`]: the servers' codec: a request that is not protobuf is INVALID_ARGUMENT.
//! - [`FILE_DESCRIPTOR_SET`]: the encoded descriptors, for gRPC server reflection.
//! - [`PACKAGE`]: the protobuf package, `sqlited.v1`.

pub mod codec;

/// The protobuf package of the contract (`sqlited --version` reports it).
pub const PACKAGE: &str = "sqlited.v1";

/// Package `sqlited.v1`.
pub mod v1 {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("sqlited.v1");
}

/// The encoded `FileDescriptorSet` of every sqlited proto file.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("sqlited_descriptor");

pub use prost_types::NullValue;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_is_the_services_package() {
        assert_eq!(
            v1::database_server::SERVICE_NAME,
            format!("{PACKAGE}.Database")
        );
        assert_eq!(v1::admin_server::SERVICE_NAME, format!("{PACKAGE}.Admin"));
    }
}
