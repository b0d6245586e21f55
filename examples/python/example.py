"""A small program using sqlited from Python: python3 example.py [host:port/database]"""

import sys

import sqlited_dbapi

conn = sqlited_dbapi.connect(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051/example")
cur = conn.cursor()
cur.execute("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
cur.executemany("INSERT INTO notes (body) VALUES (?)", [("first",), ("second",)])
print("inserted", cur.rowcount, "notes; last id", cur.lastrowid)
cur.execute("SELECT id, body FROM notes ORDER BY id DESC LIMIT :n", {"n": 2})
print([d[0] for d in cur.description], cur.fetchall())
try:
    cur.execute("SELECT * FROM missing_table")
except sqlited_dbapi.ProgrammingError as e:
    print("as expected:", e)
conn.close()
