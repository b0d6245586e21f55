//! SQLite result codes: their names, and what each means for a gRPC client.

use rusqlite::ffi;
use tonic::Code;

/// The symbolic name of an (extended) SQLite result code, e.g. `SQLITE_CONSTRAINT_UNIQUE`.
pub fn name(code: i32) -> String {
    let extended = match code {
        ffi::SQLITE_CONSTRAINT_UNIQUE => Some("SQLITE_CONSTRAINT_UNIQUE"),
        ffi::SQLITE_CONSTRAINT_PRIMARYKEY => Some("SQLITE_CONSTRAINT_PRIMARYKEY"),
        ffi::SQLITE_CONSTRAINT_NOTNULL => Some("SQLITE_CONSTRAINT_NOTNULL"),
        ffi::SQLITE_CONSTRAINT_CHECK => Some("SQLITE_CONSTRAINT_CHECK"),
        ffi::SQLITE_CONSTRAINT_FOREIGNKEY => Some("SQLITE_CONSTRAINT_FOREIGNKEY"),
        ffi::SQLITE_CONSTRAINT_TRIGGER => Some("SQLITE_CONSTRAINT_TRIGGER"),
        ffi::SQLITE_CONSTRAINT_ROWID => Some("SQLITE_CONSTRAINT_ROWID"),
        ffi::SQLITE_CONSTRAINT_DATATYPE => Some("SQLITE_CONSTRAINT_DATATYPE"),
        ffi::SQLITE_BUSY_SNAPSHOT => Some("SQLITE_BUSY_SNAPSHOT"),
        ffi::SQLITE_READONLY_DBMOVED => Some("SQLITE_READONLY_DBMOVED"),
        _ => None,
    };
    if let Some(name) = extended {
        return name.to_string();
    }
    let primary = match code & 0xff {
        ffi::SQLITE_ERROR => "SQLITE_ERROR",
        ffi::SQLITE_INTERNAL => "SQLITE_INTERNAL",
        ffi::SQLITE_PERM => "SQLITE_PERM",
        ffi::SQLITE_ABORT => "SQLITE_ABORT",
        ffi::SQLITE_BUSY => "SQLITE_BUSY",
        ffi::SQLITE_LOCKED => "SQLITE_LOCKED",
        ffi::SQLITE_NOMEM => "SQLITE_NOMEM",
        ffi::SQLITE_READONLY => "SQLITE_READONLY",
        ffi::SQLITE_INTERRUPT => "SQLITE_INTERRUPT",
        ffi::SQLITE_IOERR => "SQLITE_IOERR",
        ffi::SQLITE_CORRUPT => "SQLITE_CORRUPT",
        ffi::SQLITE_FULL => "SQLITE_FULL",
        ffi::SQLITE_CANTOPEN => "SQLITE_CANTOPEN",
        ffi::SQLITE_PROTOCOL => "SQLITE_PROTOCOL",
        ffi::SQLITE_SCHEMA => "SQLITE_SCHEMA",
        ffi::SQLITE_TOOBIG => "SQLITE_TOOBIG",
        ffi::SQLITE_CONSTRAINT => "SQLITE_CONSTRAINT",
        ffi::SQLITE_MISMATCH => "SQLITE_MISMATCH",
        ffi::SQLITE_MISUSE => "SQLITE_MISUSE",
        ffi::SQLITE_AUTH => "SQLITE_AUTH",
        ffi::SQLITE_RANGE => "SQLITE_RANGE",
        ffi::SQLITE_NOTADB => "SQLITE_NOTADB",
        _ => "SQLITE_UNKNOWN",
    };
    primary.to_string()
}

/// Whether the same request may succeed if sent again a little later.
pub fn is_transient(code: i32) -> bool {
    matches!(
        code & 0xff,
        ffi::SQLITE_BUSY | ffi::SQLITE_LOCKED | ffi::SQLITE_SCHEMA
    )
}

/// The gRPC status code for a SQLite (extended) result code. Whatever the client sent wrong
/// maps to a client-side code; only faults of the server map to INTERNAL or DATA_LOSS.
pub fn grpc_code(code: i32) -> Code {
    match code {
        ffi::SQLITE_CONSTRAINT_UNIQUE
        | ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        | ffi::SQLITE_CONSTRAINT_ROWID => return Code::AlreadyExists,
        ffi::SQLITE_CONSTRAINT_DATATYPE => return Code::InvalidArgument,
        _ => {}
    }
    match code & 0xff {
        ffi::SQLITE_ERROR | ffi::SQLITE_MISMATCH | ffi::SQLITE_RANGE | ffi::SQLITE_MISUSE => {
            Code::InvalidArgument
        }
        ffi::SQLITE_AUTH | ffi::SQLITE_PERM => Code::PermissionDenied,
        ffi::SQLITE_CONSTRAINT | ffi::SQLITE_READONLY => Code::FailedPrecondition,
        ffi::SQLITE_BUSY | ffi::SQLITE_LOCKED | ffi::SQLITE_SCHEMA => Code::Unavailable,
        ffi::SQLITE_INTERRUPT => Code::Cancelled,
        ffi::SQLITE_ABORT => Code::Aborted,
        ffi::SQLITE_FULL | ffi::SQLITE_NOMEM | ffi::SQLITE_TOOBIG => Code::ResourceExhausted,
        ffi::SQLITE_CORRUPT | ffi::SQLITE_NOTADB => Code::DataLoss,
        _ => Code::Internal,
    }
}
