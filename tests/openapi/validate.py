"""Validates the HTTP gateway's OpenAPI document with an independent validator.

Starts the real server (SQLITED_BINARY, default target/debug/sqlited) on free ports with a
statements file, fetches /v1/openapi.json and checks it with openapi-spec-validator (OpenAPI
3.1 rules and JSON Schema 2020-12), then that each exposed statement is a typed operation.
Run by .ci/run in its own virtualenv: python tests/openapi/validate.py
"""

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import urllib.request

from openapi_spec_validator import validate

STATEMENTS = """
[databases.shop.statements.add_user]
description = "Adds a user."
sql = "INSERT INTO users (name, age, plan, avatar, joined) VALUES (:name, :age, :plan, :avatar, :joined)"
writes = true
params.name = { type = "text", min_length = 1, max_length = 64, regex = "[a-z]+", description = "Login." }
params.age = { type = "integer", min = 0, max = 150, coerce = true }
params.plan = { type = "text", one_of = ["free", "pro"], default = "free" }
params.avatar = { type = "blob", max_length = 1024, nullable = true }
params.joined = { type = "timestamp" }

[databases.shop.statements.users_older_than]
sql = "SELECT name, age FROM users WHERE age > :age AND active = :active AND (:score IS NULL OR score > :score)"
params.age = { type = "integer", coerce = true }
params.active = { type = "bool", coerce = true, default = true }
params.score = { type = "real", min = 0.5, nullable = true, coerce = true }
"""


def main() -> int:
    binary = os.environ.get("SQLITED_BINARY", "target/debug/sqlited")
    with tempfile.TemporaryDirectory() as data:
        db = sqlite3.connect(os.path.join(data, "shop.db"))
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, age INTEGER, "
                   "plan TEXT, avatar BLOB, joined TEXT, active INTEGER, score REAL)")
        db.close()
        statements = STATEMENTS
        path = os.path.join(data, "statements.toml")
        with open(path, "w") as f:
            f.write(statements)
        server = subprocess.Popen(
            [binary, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
             "--data-dir", data, "--statements", path],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            found = {}

            def read():
                for line in server.stdout:
                    if line.startswith("sqlited http on "):
                        found["addr"] = line.split()[-1]
                        return

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            reader.join(60)
            if "addr" not in found:
                print("the server did not report its HTTP address within 60 s", file=sys.stderr)
                return 1
            with urllib.request.urlopen(f"http://{found['addr']}/v1/openapi.json", timeout=30) as r:
                spec = json.load(r)
        finally:
            server.kill()
            server.wait()
    validate(spec)
    add = spec["paths"]["/v1/databases/shop/call/add_user"]["post"]
    body = add["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["age"]["maximum"] == 150, body
    assert body["properties"]["name"]["pattern"] == "^(?:[a-z]+)$", body
    older = spec["paths"]["/v1/databases/shop/call/users_older_than"]
    assert older["get"]["parameters"][0]["in"] == "query", older
    operations = sum(len(item) for item in spec["paths"].values())
    print(f"openapi: the document validates (OpenAPI {spec['openapi']}, {len(spec['paths'])} paths, "
          f"{operations} operations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
