//! Generates the tonic/prost code from `sqlited/v1/*.proto` with a vendored `protoc`,
//! so no system protobuf compiler is needed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let well_known = protoc_bin_vendored::include_path()?;
    // SAFETY: build scripts are single-threaded; prost-build reads PROTOC from the environment.
    unsafe { std::env::set_var("PROTOC", protoc) };

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let protos = [
        PathBuf::from("sqlited/v1/values.proto"),
        PathBuf::from("sqlited/v1/database.proto"),
        PathBuf::from("sqlited/v1/admin.proto"),
        PathBuf::from("sqlited/v1/kv.proto"),
        PathBuf::from("sqlited/v1/statements.proto"),
    ];
    for proto in &protos {
        println!("cargo:rerun-if-changed={}", proto.display());
    }
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("sqlited_descriptor.bin"))
        .compile_protos(&protos, &[PathBuf::from("."), well_known])?;
    Ok(())
}
