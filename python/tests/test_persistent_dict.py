"""PersistentDict against the real server: every method, the codecs, codec records, 40
threads, a restart, the errors; and postcard, byte for byte and with the Rust client."""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from typing import Dict, FrozenSet, List, NamedTuple, Optional, Tuple

import grpc
import pytest

import sqlited
from sqlited import persistent_dict, postcard
from sqlited._proto import kv_pb2, kv_pb2_grpc

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("SQLITED_BINARY", os.path.join(ROOT, "target", "debug", "sqlited"))
BENCH = os.environ.get("SQLITED_BENCH_BINARY", os.path.join(os.path.dirname(BINARY), "sqlited-bench"))


class Server:
    """A sqlited process on a data directory, which can be stopped and started again on the
    same directory and port."""

    def __init__(self, *args: str) -> None:
        self.data = tempfile.mkdtemp(prefix="sqlited-pydict-")
        self.args = list(args)
        self.address = "127.0.0.1:0"
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> "Server":
        self.proc = subprocess.Popen(
            [BINARY, "--listen", self.address, "--data-dir", self.data, *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.proc.stdout.readline()  # blocks until the server listens (or has died)
        assert line.startswith("sqlited listening on "), line
        self.address = line.split()[-1]
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=60)
        assert code == (0 if sig == signal.SIGTERM else -sig)
        self.proc = None

    def close(self) -> None:
        if self.proc is not None:
            self.stop()
        shutil.rmtree(self.data, ignore_errors=True)


def kv(address: str) -> kv_pb2_grpc.KeyValueStub:
    return kv_pb2_grpc.KeyValueStub(grpc.insecure_channel(address))


def stored(address: str, database: str, name: str) -> List[Tuple[bytes, bytes]]:
    """The map's entries as the server holds them."""
    ref = kv_pb2.MapRef(database=database, map=name)
    return [(e.key, e.value) for m in kv(address).Scan(kv_pb2.ScanRequest(map=ref)) for e in m.entries]


@pytest.fixture
def d(url):
    with sqlited.PersistentDict(url, "m") as persistent:
        yield persistent


def test_every_method(d, url):
    assert len(d) == 0 and list(d) == [] and "a" not in d and d.get("a") is None
    with pytest.raises(KeyError):
        d["a"]
    d["a"] = {"n": 1}
    d["b"] = [1, (2, 3)]
    d["c"] = None
    assert d["a"] == {"n": 1} and d["b"] == [1, (2, 3)] and d["c"] is None
    assert "c" in d and "z" not in d and len(d) == 3
    assert list(d) == ["a", "b", "c"] and list(d.keys()) == ["a", "b", "c"]
    assert list(d.values()) == [{"n": 1}, [1, (2, 3)], None]
    assert list(d.items()) == [("a", {"n": 1}), ("b", [1, (2, 3)]), ("c", None)]
    assert "a" in d.keys() and ("a", {"n": 1}) in d.items() and ("a", 2) not in d.items()
    assert d == {"a": {"n": 1}, "b": [1, (2, 3)], "c": None}
    d["a"] = "replaced"
    assert d["a"] == "replaced" and len(d) == 3

    assert d.pop("a") == "replaced" and "a" not in d
    assert d.pop("a", "gone") == "gone"
    with pytest.raises(KeyError):
        d.pop("a")
    del d["c"]
    with pytest.raises(KeyError):
        del d["c"]

    assert d.setdefault("s", [1]) == [1]
    assert d.setdefault("s", [2]) == [1]
    assert d.setdefault("none") is None and d["none"] is None

    d.update({"x": 1, "y": 2}, z=3)
    d.update([("w", 0)])
    d.update()
    assert {k: d[k] for k in "wxyz"} == {"w": 0, "x": 1, "y": 2, "z": 3}

    assert d.update_value("x", lambda n: n + 10) == 11 and d["x"] == 11
    assert d.update_value("new", lambda n: n + 1, default=0) == 1 and d["new"] == 1
    with pytest.raises(KeyError):
        d.update_value("absent", lambda n: n)

    before = len(d)
    assert d.popitem() == ("b", [1, (2, 3)])  # the smallest key
    assert len(d) == before - 1
    d.clear()
    assert len(d) == 0 and list(d.items()) == []
    with pytest.raises(KeyError):
        d.popitem()
    assert "PersistentDict" in repr(d) and "'m'" in repr(d)

    # A second object, and one over a Connection, see the same map.
    d["k"] = 1
    again = sqlited.PersistentDict(sqlited.connect(url), "m")
    assert dict(again) == {"k": 1}
    d.close()
    with pytest.raises(sqlited.InterfaceError, match="closed"):
        d["k"]


def test_iteration_reads_pages(d, monkeypatch):
    monkeypatch.setattr(persistent_dict, "PAGE", 7)
    pages = []
    scan = d._scan
    monkeypatch.setattr(d, "_scan", lambda after, limit: pages.append(after) or scan(after, limit))
    d.update({f"k{i:02}": i for i in range(30)})
    assert list(d.items()) == [(f"k{i:02}", i) for i in range(30)]
    assert len(pages) == 5 and pages[0] is None and pages[1] == b"k06"  # 7 + 7 + 7 + 7 + 2
    pages.clear()
    assert list(d.values()) == list(range(30)) and len(pages) == 5


def test_json_and_raw_codecs_store_what_they_say(server, url):
    database = url.rsplit("/", 1)[1]
    j = sqlited.PersistentDict(url, "j", codec="json")
    j["é"] = {"list": [1, 2.5, None, True], "tuple": (1, 2)}
    assert j["é"] == {"list": [1, 2.5, None, True], "tuple": [1, 2]}  # JSON has no tuples
    assert stored(server, database, "j") == [("é".encode(), b'{"list":[1,2.5,null,true],"tuple":[1,2]}')]
    with pytest.raises(sqlited.EncodeError, match="JSON"):
        j["x"] = {1, 2}
    with pytest.raises(sqlited.EncodeError):
        j["x"] = float("nan")
    r = sqlited.PersistentDict(url, "r", codec="raw")
    r[b"\x00\xff"] = bytearray(b"v")
    assert r[b"\x00\xff"] == b"v" and stored(server, database, "r") == [(b"\x00\xff", b"v")]
    with pytest.raises(TypeError):  # EncodeError is a TypeError too
        r["str"] = b"v"
    with pytest.raises(sqlited.EncodeError, match="bytes"):
        r[b"k"] = "str"
    # pickle: str keys as UTF-8, pickles as values.
    p = sqlited.PersistentDict(url, "p")
    p["k"] = (1, "two")
    [(key, value)] = stored(server, database, "p")
    assert key == b"k" and value[:2] == b"\x80\x05" and value.endswith(b".")
    with pytest.raises(sqlited.EncodeError, match="str, not int"):
        p[1] = "v"
    with pytest.raises(sqlited.EncodeError, match="pickle"):
        p["lambda"] = lambda: 0
    with pytest.raises(ValueError, match="unknown codec"):
        sqlited.PersistentDict(url, "x", codec="yaml")
    with pytest.raises(ValueError, match="Rust types"):
        sqlited.PersistentDict(url, "x", codec="postcard")


def test_a_map_records_its_codec(server, url):
    database = url.rsplit("/", 1)[1]
    sqlited.PersistentDict(url, "Shared", codec="json")["k"] = 1
    record = dict(stored(server, database, persistent_dict.CODECS_MAP))
    assert json.loads(record[b"shared"]) == {"codec": "json"}  # table names ignore case
    with pytest.raises(sqlited.CodecMismatchError, match="codec 'json', not 'pickle'"):
        sqlited.PersistentDict(url, "shared")
    assert sqlited.PersistentDict(url, "SHARED", codec="json")["k"] == 1
    with pytest.raises(sqlited.ProgrammingError):  # the class of CodecMismatchError
        sqlited.PersistentDict(url, "Shared", codec="raw")

    sqlited.PersistentDict(url, "pc", codec=sqlited.Postcard(str, "u64"))["k"] = 1
    with pytest.raises(sqlited.CodecMismatchError, match=r"Postcard\('String', 'u64'\)"):
        sqlited.PersistentDict(url, "pc", codec=sqlited.Postcard(str, int))  # i64
    same = sqlited.PersistentDict(url, "pc", codec=sqlited.Postcard("&str", "u64"))
    assert same["k"] == 1

    # Two objects opened before either wrote: the second to write finds the first's record.
    first = sqlited.PersistentDict(url, "race", codec="json")
    second = sqlited.PersistentDict(url, "race", codec="raw")
    first["a"] = 1
    with pytest.raises(sqlited.CodecMismatchError):
        second[b"a"] = b"1"
    assert stored(server, database, "race") == [(b"a", b"1")]  # the JSON 1, untouched

    # clear() keeps the record.
    first.clear()
    with pytest.raises(sqlited.CodecMismatchError):
        sqlited.PersistentDict(url, "race", codec="raw")
    with pytest.raises(sqlited.ProgrammingError, match="holds the codecs"):
        sqlited.PersistentDict(url, persistent_dict.CODECS_MAP, codec="raw")


def test_a_map_without_record_is_checked_by_its_first_entry(server, url):
    database = url.rsplit("/", 1)[1]
    stub = kv(server)
    ref = kv_pb2.MapRef(database=database, map="foreign")
    stub.Set(kv_pb2.SetRequest(map=ref, key=b"\x04home", value=b"\x2a"))  # <String, u64>: "home" -> 42
    with pytest.raises(sqlited.CodecMismatchError, match="not a pickle"):
        sqlited.PersistentDict(url, "foreign")
    with pytest.raises(sqlited.CodecMismatchError, match="does not decode as a String"):
        sqlited.PersistentDict(url, "foreign", codec=sqlited.Postcard("String", "String"))
    d = sqlited.PersistentDict(url, "foreign", codec=sqlited.Postcard("String", "u64"))
    assert dict(d) == {"home": 42}
    assert stored(server, database, persistent_dict.CODECS_MAP) == []
    d["away"] = 7  # the first write records the codec
    assert json.loads(dict(stored(server, database, persistent_dict.CODECS_MAP))[b"foreign"]) == {
        "codec": "postcard", "key": "String", "value": "u64"
    }
    assert stored(server, database, "foreign") == [(b"\x04away", b"\x07"), (b"\x04home", b"\x2a")]


def test_a_value_that_does_not_decode_names_its_key(server, url):
    database = url.rsplit("/", 1)[1]
    d = sqlited.PersistentDict(url, "m", codec="json")
    d["good"] = 1
    kv(server).Set(kv_pb2.SetRequest(map=kv_pb2.MapRef(database=database, map="m"), key=b"bad", value=b"{nope"))
    with pytest.raises(sqlited.DecodeError, match=r"key 0x626164: the value is not JSON"):
        d["bad"]
    with pytest.raises(sqlited.DataError):
        dict(d.items())
    assert d["good"] == 1


def test_a_database_that_does_not_exist_reads_as_empty_and_is_made_by_a_write(server):
    url = f"{server}/pydict_fresh_database"
    d = sqlited.PersistentDict(url, "m")
    assert len(d) == 0 and list(d.items()) == [] and "k" not in d and d.get("k") is None
    with pytest.raises(KeyError):
        d.pop("k")
    assert stored(server, "pydict_fresh_database", "m") == []
    d["k"] = 1
    assert sqlited.PersistentDict(url, "m")["k"] == 1


def test_forty_threads_share_one_dict_and_their_writes_travel_together(url, monkeypatch):
    d = sqlited.PersistentDict(url, "m")
    requests = []
    send = d._batcher._send
    monkeypatch.setattr(d._batcher, "_send", lambda batch: requests.append(len(batch)) or send(batch))
    errors = []
    threads, writes = 40, 25

    def work(n):
        try:
            for i in range(writes):
                d[f"{n}-{i}"] = (n, i)
                assert d[f"{n}-{i}"] == (n, i)  # durable and visible when it returns
            for _ in range(2):
                d.update_value("counter", lambda c: c + 1, default=0)
        except Exception as e:  # reported below, with the thread's number
            errors.append((n, e))

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    assert len(d) == threads * writes + 1
    assert d["counter"] == threads * 2  # compare-and-set lost no update
    assert all(d[f"{n}-{i}"] == (n, i) for n in range(threads) for i in range(writes))
    assert sum(requests) == threads * writes
    assert len(requests) < threads * writes and max(requests) > 1  # batched


def test_the_batcher_hands_its_slot_on_and_keeps_errors_apart(url):
    """A batch answered hands its slot to a waiting caller, so every caller returns; an entry
    refused alone fails only its own caller."""
    gate = threading.Event()
    calls = []
    batcher = persistent_dict._Batcher(lambda batch: calls.append([p.key for p in batch]) or gate.wait(10))
    done = []

    def put(i):
        batcher.set(bytes([i]), b"")
        done.append(i)

    pool = [threading.Thread(target=put, args=(i,)) for i in range(10)]
    for t in pool:
        t.start()
    # Two leaders block in their sends; the other eight queue behind them.
    def blocked():
        return len(calls) == 2 and len(calls[0]) + len(calls[1]) + len(batcher._queue) == 10

    for _ in range(1000):  # polls, bounded: until every caller is in
        if blocked():
            break
        threading.Event().wait(0.01)
    assert blocked()
    gate.set()
    for t in pool:
        t.join(10)
    assert sorted(done) == list(range(10)) and batcher._leaders == 0
    assert sorted(k for batch in calls for k in batch) == [bytes([i]) for i in range(10)]
    assert len(calls) <= 4  # the eight waiting went out in at most two more requests


def test_a_dict_survives_a_server_restart_and_a_kill():
    server = Server().start()
    try:
        url = f"{server.address}/restart"
        d = sqlited.PersistentDict(url, "m", codec="json")
        d.update({f"k{i}": i for i in range(100)})
        d["single"] = "durable when it returns"
        server.stop()
        server.start()  # the same port and data directory
        assert len(d) == 101 and d["k42"] == 42  # the same object: the channel reconnects
        d["after"] = True
        server.stop(signal.SIGKILL)  # no shutdown at all: only what was committed survives
        server.start()
        assert d["after"] is True and d["single"] == "durable when it returns" and len(d) == 102
        with pytest.raises(sqlited.CodecMismatchError):
            sqlited.PersistentDict(url, "m")  # the record survived too

        # No server: every caller of a batch gets its own error, none hangs.
        server.stop()
        errors = []

        def put(i):
            try:
                d[f"down{i}"] = i
            except sqlited.OperationalError as e:
                errors.append(e)

        pool = [threading.Thread(target=put, args=(i,)) for i in range(10)]
        for t in pool:
            t.start()
        for t in pool:
            t.join(60)
        assert len(errors) == 10 and all(e.code == grpc.StatusCode.UNAVAILABLE for e in errors)
        assert len({id(e) for e in errors}) == 10
    finally:
        server.close()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """A server with small messages and a statements file: `shop` serves only declared maps."""
    statements = tmp_path_factory.mktemp("statements") / "statements.toml"
    statements.write_text(
        '[databases.shop]\nexposed_only = true\nmaps = ["carts", "sqlited_codecs"]\n'
        '[databases.shop2]\nexposed_only = true\nmaps = ["carts"]\n'
    )
    server = Server("--max-message-bytes", "65536", "--statements", str(statements)).start()
    yield server.address
    server.close()


def test_clear_errors(guarded, url):
    with pytest.raises(sqlited.ProgrammingError, match="invalid map name"):
        sqlited.PersistentDict(url, "no spaces")
    with pytest.raises(sqlited.ProgrammingError, match="invalid map name"):
        sqlited.PersistentDict(url, "x" * 65)
    with pytest.raises(sqlited.ProgrammingError, match="invalid map name"):
        sqlited.PersistentDict(url, "-starts-with-dash")
    with pytest.raises(sqlited.ProgrammingError, match="invalid database name"):
        sqlited.PersistentDict("127.0.0.1:1/bad.name", "m")
    with pytest.raises(sqlited.InterfaceError):
        sqlited.PersistentDict(42, "m")

    # Too big for the server: refused whole, a clear error; the map is unchanged.
    d = sqlited.PersistentDict(f"{guarded}/big", "m", codec="raw")
    d[b"small"] = b"1"
    with pytest.raises(sqlited.ValueTooLargeError, match="max-message-bytes") as e:
        d[b"big"] = b"x" * 100_000
    assert isinstance(e.value, sqlited.DataError) and e.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(sqlited.DataError):
        d.update({b"a": b"1", b"big": b"x" * 100_000})
    assert dict(d) == {b"small": b"1"}

    # Sent together with small ones, a big entry fails alone.
    results = {}

    def put(key, value):
        try:
            d[key] = value
            results[key] = "ok"
        except sqlited.DataError as error:
            results[key] = error

    pool = [threading.Thread(target=put, args=(bytes([i]), b"x" * (100_000 if i == 0 else 10))) for i in range(20)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert isinstance(results.pop(b"\x00"), sqlited.ValueTooLargeError)
    assert set(results.values()) == {"ok"} and len(d) == 20

    # A map the statements file does not declare, on an exposed-only database.
    with pytest.raises(sqlited.Error, match="not one of the maps") as e:
        sqlited.PersistentDict(f"{guarded}/shop", "undeclared")
    assert e.value.code == grpc.StatusCode.PERMISSION_DENIED
    carts = sqlited.PersistentDict(f"{guarded}/shop", "carts")
    carts["ada"] = ["tea"]
    assert carts["ada"] == ["tea"]
    # Declared, but the codecs map is not: the error says what to declare.
    with pytest.raises(sqlited.Error, match=r'maps = \["carts", "sqlited_codecs"\]'):
        sqlited.PersistentDict(f"{guarded}/shop2", "carts")


def test_update_value_gives_up_after_its_attempts(url):
    d = sqlited.PersistentDict(url, "m")
    other = sqlited.PersistentDict(url, "m")
    d["k"] = 0

    def meddle(n):
        other["k"] = n + 100  # another writer, every time
        return n + 1

    with pytest.raises(sqlited.OperationalError, match="lost 3 races"):
        d.update_value("k", meddle, attempts=3)
    assert d["k"] == 300


# -- postcard ---------------------------------------------------------------------------


class Color(enum.Enum):
    RED = "r"
    GREEN = "g"
    BLUE = "b"


@dataclasses.dataclass
class Point:
    x: int
    y: "Optional[str]"


class Pair(NamedTuple):
    a: int
    b: str


def test_postcard_matches_the_documented_wire_format():
    # spec/src/wire-format.md of postcard 1.x: the u16 and i16 tables, floats, bool.
    for value, encoded in [(0, "00"), (127, "7f"), (128, "8001"), (16383, "ff7f"), (16384, "808001"), (16385, "818001"), (65535, "ffff03")]:
        assert postcard.dumps("u16", value).hex() == encoded and postcard.loads("u16", bytes.fromhex(encoded)) == value
    for value, encoded in [(0, "00"), (-1, "01"), (1, "02"), (63, "7e"), (-64, "7f"), (64, "8001"), (-65, "8101"), (-32768, "ffff03")]:
        assert postcard.dumps("i16", value).hex() == encoded and postcard.loads("i16", bytes.fromhex(encoded)) == value
    assert postcard.dumps("f32", -32.005859375).hex() == "000600c2"
    assert postcard.dumps("f64", -32.005859375).hex() == "00000000c00040c0"
    assert postcard.dumps(bool, True) == b"\x01" and postcard.dumps(bool, False) == b"\x00"
    assert postcard.dumps("i8", -1) == b"\xff" and postcard.dumps("u8", 255) == b"\xff"
    # Non-canonical but accepted: excess bytes within the maximum length.
    assert postcard.loads("u16", bytes.fromhex("8000")) == 0 and postcard.loads("u16", bytes.fromhex("808000")) == 0
    for t, bad in [("u16", "80808000"), ("u16", "ffff07"), ("u16", "ffff8300"), ("bool", "02"), ("Option<u8>", "0200"),
                   ("String", "03ff"), ("String", "02c3"), ("String", "01ff"), ("u64", "ffffffffffffffffff7f"), ("u8", ""), ("u32", "00" + "00")]:
        with pytest.raises(postcard.DecodeError):
            postcard.loads(t, bytes.fromhex(bad))


def test_postcard_types_as_the_rust_client_writes_them():
    cases = [
        ("String", "home", "04686f6d65"),
        (str, "é", "02c3a9"),
        ("char", "é", "02c3a9"),
        (bytes, b"\x00\x01", "020001"),
        ("Vec<u8>", b"ab", "026162"),
        ("[u8; 3]", b"abc", "616263"),
        (int, -2, "03"),
        ("u64", 300, "ac02"),
        ("u128", 2**128 - 1, "ff" * 18 + "03"),
        ("i128", -(2**127), "ff" * 18 + "03"),
        ("usize", 1, "01"),
        (float, 1.5, "000000000000f83f"),
        (None, None, ""),
        ("()", None, ""),
        (Optional[int], None, "00"),
        ("Option<u8>", 7, "0107"),
        (List[int], [1, -1], "020201"),
        ("Vec<String>", ["a", ""], "02016100"),
        (Tuple[int, str], (1, "a"), "020161"),
        ("(u8, bool)", (1, True), "0101"),
        ("[u16; 2]", (128, 1), "800101"),
        (Tuple[int, ...], (1, 2), "020204"),
        (Dict[str, int], {"a": 1}, "01016102"),
        ("BTreeMap<u8, Option<bool>>", {1: None, 2: True}, "0201000201 01".replace(" ", "")),
        (FrozenSet[int], frozenset([5]), "010a"),
        (Point, Point(3, None), "0600"),
        (Point, Point(-1, "z"), "0101017a"),
        (Pair, Pair(1, "b"), "020162"),
        (Color, Color.BLUE, "02"),
        ("Box<std::collections::HashMap<String, Vec<u8>>>", {"k": b"\x01"}, "01016b0101"),
    ]
    for spec, value, encoded in cases:
        assert postcard.dumps(spec, value).hex() == encoded, spec
        assert postcard.loads(spec, bytes.fromhex(encoded)) == value, spec
    assert postcard.type_of("HashMap<String, (u32, Option<Vec<i16>>)>").name == "Map<String, (u32, Option<Vec<i16>>)>"

    for spec, value in [("u8", 256), ("u64", -1), ("i8", 128), ("i64", 2**63), ("u32", True), ("String", b"x"),
                        ("f32", 1e300), ("char", "ab"), ("(u8, u8)", (1,)), ("[u8; 2]", b"abc"), (bool, 1),
                        ("()", 0), (List[int], "abc"), (Color, "r"), (Point, (1, None))]:
        with pytest.raises(sqlited.EncodeError):
            postcard.dumps(spec, value)
    with pytest.raises(postcard.DecodeError, match="left over"):
        postcard.loads("u8", b"\x01\x02")
    for bad in ["Vec<", "Frob", "Vec<u8, u8>", "[u8]", "(u8 u8)", "HashMap<u8>"]:
        with pytest.raises(ValueError, match="Rust type"):
            postcard.type_of(bad)
    with pytest.raises(ValueError, match="no postcard layout"):
        postcard.type_of(object)


def test_postcard_dict_over_the_server(server, url):
    database = url.rsplit("/", 1)[1]
    d = sqlited.PersistentDict(url, "hits", codec=sqlited.Postcard("String", "u64"))
    d["home"] = 1
    assert d.update_value("home", lambda n: n + 1) == 2
    assert stored(server, database, "hits") == [(b"\x04home", b"\x02")]
    with pytest.raises(sqlited.EncodeError, match="u64"):
        d["neg"] = -1
    p = sqlited.PersistentDict(url, "points", codec=sqlited.Postcard((int, int), Point))
    p[(1, 2)] = Point(3, "z")
    assert p[(1, 2)] == Point(3, "z") and list(p.items()) == [((1, 2), Point(3, "z"))]


@pytest.mark.skipif(not os.access(BENCH, os.X_OK), reason=f"no sqlited-bench at {BENCH} (cargo build -p sqlited-bench, or set SQLITED_BENCH_BINARY)")
def test_postcard_interoperates_with_the_rust_client(server):
    """sqlited-bench writes with the Rust client's PersistentMap<String, Vec<u8>> (map `bench`):
    kv-append sets new keys (read here), kv-insert replaces random ones of k000001..k100000 and
    decodes each replaced value, which here are written by Python."""

    def bench(database, workload):
        out = subprocess.run(
            [BENCH, "--url", f"http://{server}", "--database", database, "--workload", workload,
             "--mode", "threads", "--clients", "2", "--requests", "40"],
            check=True, capture_output=True, text=True, timeout=120,
        ).stdout
        return json.loads(out.strip().splitlines()[-1])

    database = "pydict_interop"
    assert bench(database, "kv-append")["errors"] == {}
    codec = sqlited.Postcard("String", "Vec<u8>")
    d = sqlited.PersistentDict(f"{server}/{database}", "bench", codec=codec)
    rust = dict(d.items())
    assert len(rust) == 40 and all(k.startswith("n") and len(v) == 16 and len(set(v)) == 1 for k, v in rust.items())

    d.update({f"k{n:06}": bytes([n % 256]) * (n % 5) for n in range(1, 100_001)})
    assert bench(database, "kv-insert")["errors"] == {}  # Rust decoded what Python wrote
    changed = {k: v for k, v in d.items() if k.startswith("k") and v != bytes([int(k[1:]) % 256]) * (int(k[1:]) % 5)}
    assert 0 < len(changed) <= 40 and all(len(v) == 16 for v in changed.values())  # Rust's, read back

    # The control: values Rust cannot decode as Vec<u8> make the same run fail.
    garbled = sqlited.PersistentDict(f"{server}/pydict_interop_bad", "bench", codec="raw")
    garbled.update({codec.encode_key(f"k{n:06}"): b"\xff" for n in range(1, 100_001)})
    assert bench("pydict_interop_bad", "kv-insert")["errors"] != {}


def test_tokens_and_roles(tmp_path):
    """With auth on: the token is sent; a read token reads and cannot write; a write token
    may create only declared maps, and the error says to declare the codecs map too."""
    import hashlib

    tokens = {"admin": "tok-admin-0123456789", "write": "tok-write-0123456789", "read": "tok-read-0123456789"}
    credentials = tmp_path / "credentials.toml"
    credentials.write_text("".join(
        f'[[token]]\nname = "{role}"\nsha256 = "{hashlib.sha256(t.encode()).hexdigest()}"\nroles = {{ "*" = "{role}" }}\n'
        for role, t in tokens.items()
    ))
    statements = tmp_path / "statements.toml"
    statements.write_text('[databases.app]\nmaps = ["carts", "sqlited_codecs"]\n')
    server = Server("--credentials", str(credentials), "--statements", str(statements)).start()
    try:
        url = f"{server.address}/app"
        with pytest.raises(sqlited.Error) as e:
            sqlited.PersistentDict(url, "carts")  # no token
        assert e.value.code == grpc.StatusCode.UNAUTHENTICATED
        admin = sqlited.PersistentDict(url, "carts", token=tokens["admin"])
        admin["a"] = 1
        writer = sqlited.PersistentDict(sqlited.connect(url, token=tokens["write"]), "carts")
        writer["b"] = 2  # a declared map: a write token may write it
        reader = sqlited.PersistentDict(url, "carts", token=tokens["read"])
        assert dict(reader) == {"a": 1, "b": 2}
        with pytest.raises(sqlited.Error, match="role") as e:
            reader["c"] = 3
        assert e.value.code == grpc.StatusCode.PERMISSION_DENIED and "sqlited_codecs" not in str(e.value)
        # An undeclared new map needs admin to be created: the write token is refused, saying so.
        with pytest.raises(sqlited.Error, match="admin") as e:
            sqlited.PersistentDict(url, "other", token=tokens["write"])["k"] = 1
        assert e.value.code == grpc.StatusCode.PERMISSION_DENIED
        assert dict(admin) == {"a": 1, "b": 2}
        # The refused first write left no codec record: another codec may still have "other".
        other = sqlited.PersistentDict(url, "other", codec="json", token=tokens["admin"])
        other["k"] = 1
        assert other["k"] == 1
    finally:
        server.close()
