"""A small program using the sqlited package: python3 example.py [host:port/database]

Needs `pip install ./python` (from the repository's root).
"""

import sys

import sqlited

conn = sqlited.connect(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051/example")
conn.execute("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
with conn:  # one transaction: committed at the end of the block, rolled back if it raises
    cur = conn.executemany("INSERT INTO notes (body) VALUES (:body)", [{"body": "first"}, {"body": "second"}])
    print("inserted", cur.rowcount, "notes")
conn.row_factory = sqlited.Row
cur = conn.execute("SELECT id, body FROM notes ORDER BY id DESC LIMIT ?", (2,))
print([d[0] for d in cur.description], [tuple(row) for row in cur])
try:
    conn.execute("SELECT * FROM missing_table")
except sqlited.OperationalError as e:
    print("as expected:", e, f"({e.sqlite_errorname}, request {e.request_id})")
conn.close()
