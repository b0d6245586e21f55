"""The generated gRPC stubs of sqlited's protos (``proto/sqlited/v1``); see tools/protos.sh."""
