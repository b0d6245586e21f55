"""The example on asyncio (sqlited.aio): python3 example_aio.py [host:port/database]

Needs `pip install ./python` (from the repository's root).
"""

import asyncio
import sys

import sqlited.aio


async def main(url):
    conn = await sqlited.aio.connect(url)
    await conn.execute("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    async with conn:  # one transaction: committed at the end of the block, rolled back if it raises
        cur = await conn.executemany("INSERT INTO notes (body) VALUES (?)", [("first",), ("second",)])
        print("inserted", cur.rowcount, "notes")
    # Tasks may share the connection; outside a transaction their statements run concurrently.
    counts = await asyncio.gather(*(conn.execute("SELECT count(*) FROM notes WHERE body = ?", (b,)) for b in ("first", "second")))
    print("counts", [await c.fetchone() for c in counts])
    async for row in await conn.execute("SELECT id, body FROM notes ORDER BY id DESC LIMIT 2"):
        print(row)
    await conn.close()


asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051/example"))
