#!/usr/bin/env bash
# Generates the Python stubs of sqlited's .proto files into ./gen with grpcio-tools
# (`pip install grpcio grpcio-tools`); grpc_tools brings protoc and the well-known types.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
rm -rf gen && mkdir -p gen
"$PYTHON" -m grpc_tools.protoc -I ../../proto --python_out=gen --grpc_python_out=gen \
    ../../proto/sqlited/v1/*.proto
echo "stubs written to $(pwd)/gen"
