//! Generates the tonic/prost code from `sqlited/v1/*.proto` with a vendored `protoc`,
//! so no system protobuf compiler is needed.

use std::path::PathBuf;

use prost_build::{Service, ServiceGenerator};

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
    // Clients with prost's codec, servers with ours (src/codec.rs): tonic-prost-build takes
    // one codec for both, so each side comes from a generator of its own.
    let services = ClientsAndServers {
        clients: tonic_prost_build::configure()
            .build_server(false)
            .service_generator(),
        servers: tonic_prost_build::configure()
            .build_client(false)
            .codec_path("crate::codec::ServerCodec")
            .service_generator(),
    };
    let mut config = tonic_prost_build::Config::new();
    config.service_generator(Box::new(services));
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(false)
        .file_descriptor_set_path(out_dir.join("sqlited_descriptor.bin"))
        .compile_with_config(config, &protos, &[PathBuf::from("."), well_known])?;
    Ok(())
}

/// Generates each service's client with one generator and its server with another.
struct ClientsAndServers {
    clients: Box<dyn ServiceGenerator>,
    servers: Box<dyn ServiceGenerator>,
}

impl ServiceGenerator for ClientsAndServers {
    fn generate(&mut self, service: Service, buf: &mut String) {
        self.clients.generate(service.clone(), buf);
        self.servers.generate(service, buf);
    }

    fn finalize(&mut self, buf: &mut String) {
        self.clients.finalize(buf);
        self.servers.finalize(buf);
    }

    fn finalize_package(&mut self, package: &str, buf: &mut String) {
        self.clients.finalize_package(package, buf);
        self.servers.finalize_package(package, buf);
    }
}
