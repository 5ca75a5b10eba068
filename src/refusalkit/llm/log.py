"""The response log: every request and its outcome in one SQLite file, also the cache.

Like Simon Willison's `llm` tool, everything sent to a model is kept, so a job can be
audited later and a rerun reads answers back instead of paying for them again. Design:

- key = SHA-256 of (endpoint name, endpoint identity, model, messages, parameters incl.
  the sample index). The API key is never part of it, nor stored anywhere in the file.
- one writer thread per `ResponseLog` drains a queue and commits in batches; readers use
  their own connections (WAL lets them read while it writes). Other processes may write
  to the same file too: SQLite serialises the transactions (busy timeout).
- errors are logged as rows too (with `error` set) but never served from the cache, so a
  rerun retries exactly what failed.
- long system prompts (judge instructions) are stored once in `texts` and referenced,
  so a 100k-row judging run does not store the same 4 kB prompt 100k times.
"""

from __future__ import annotations

import hashlib
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from refusalkit.core.errors import RefusalkitError

LOG_FILE = "logs.sqlite"
SCHEMA_VERSION = "1"
_BATCH = 512
_LOOKUP_CHUNK = 400
_STOP = object()

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS texts (id INTEGER PRIMARY KEY, hash BLOB UNIQUE NOT NULL, text TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS responses (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    created_at REAL NOT NULL,
    endpoint TEXT, provider TEXT, base_url TEXT, model TEXT, response_model TEXT, tag TEXT,
    sample INTEGER NOT NULL DEFAULT 0,
    system_id INTEGER REFERENCES texts(id),
    messages TEXT NOT NULL,
    params TEXT NOT NULL,
    response TEXT, reasoning TEXT, refusal TEXT, finish_reason TEXT,
    input_tokens INTEGER, output_tokens INTEGER, reasoning_tokens INTEGER,
    cost REAL, latency REAL, attempts INTEGER, structured INTEGER,
    error TEXT, error_type TEXT, status_code INTEGER
);
CREATE INDEX IF NOT EXISTS responses_ok_key ON responses(key) WHERE error IS NULL;
CREATE INDEX IF NOT EXISTS responses_endpoint ON responses(endpoint, id);
"""

COLUMNS = (
    "key", "created_at", "endpoint", "provider", "base_url", "model", "response_model", "tag",
    "sample", "system_id", "messages", "params", "response", "reasoning", "refusal",
    "finish_reason", "input_tokens", "output_tokens", "reasoning_tokens", "cost", "latency",
    "attempts", "structured", "error", "error_type", "status_code",
)  # fmt: skip
_INSERT = f"INSERT INTO responses ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
#: columns a cache hit needs to rebuild a result
CACHE_COLUMNS = (
    "key", "created_at", "response_model", "response", "reasoning", "refusal", "finish_reason",
    "input_tokens", "output_tokens", "reasoning_tokens", "cost", "latency", "attempts", "structured",
)  # fmt: skip


def default_log_path() -> Path:
    from refusalkit.core.paths import user_dir

    return user_dir() / LOG_FILE


def make_key(
    endpoint: str,
    identity: str,
    model: str,
    messages: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    sample: int,
) -> str:
    """The cache key of one request sample (hex SHA-256). Never includes credentials."""
    blob = orjson.dumps(
        [endpoint, identity, model, messages, params, sample], option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(blob).hexdigest()


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=60.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 60000")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


class ResponseLog:
    """Append-only SQLite log of requests and responses, shared by every client."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_log_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = _connect(self.path)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(_SCHEMA)
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        except sqlite3.DatabaseError as exc:
            raise RefusalkitError(
                f"{self.path}: not a usable response log: {exc}", hint="pass another --log path"
            ) from exc
        finally:
            conn.close()
        self._local = threading.local()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._lock = threading.Lock()
        self._failure: BaseException | None = None
        self.written = 0

    # ------------------------------------------------------------------- writing
    def put(self, record: Mapping[str, Any]) -> None:
        """Queue one record (a dict with `COLUMNS` keys, `system` text allowed) for writing."""
        if self._writer is None:
            with self._lock:
                if self._writer is None:
                    self._writer = threading.Thread(
                        target=self._run, name="refusalkit-log-writer", daemon=True
                    )
                    self._writer.start()
        self._queue.put(record)

    def flush(self) -> None:
        """Block until everything queued so far is committed."""
        if self._writer is None:
            self._raise_failure()
            return
        done = threading.Event()
        self._queue.put(done)
        done.wait()
        self._raise_failure()

    def close(self) -> None:
        """Commit what is queued and stop the writer. Safe to call twice."""
        writer = self._writer
        if writer is not None and writer.is_alive():
            self._queue.put(_STOP)
            writer.join()
        self._writer = None
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        self._raise_failure()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            exc, self._failure = self._failure, None
            raise RefusalkitError(
                f"{self.path}: writing the response log failed: {exc}",
                hint="check disk space and permissions",
            ) from exc

    def _run(self) -> None:
        conn = _connect(self.path)
        text_ids: dict[bytes, int] = {}
        try:
            while True:
                batch = [self._queue.get()]
                while len(batch) < _BATCH:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                records = [b for b in batch if isinstance(b, Mapping)]
                if records:
                    try:
                        self._write(conn, records, text_ids)
                    except Exception as exc:
                        self._failure = exc
                for item in batch:
                    if isinstance(item, threading.Event):
                        item.set()
                if any(item is _STOP for item in batch):
                    return
        finally:
            conn.close()

    def _write(
        self, conn: sqlite3.Connection, records: list[Mapping[str, Any]], text_ids: dict[bytes, int]
    ) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            rows = []
            for rec in records:
                system = rec.get("system")
                system_id = None
                if system:
                    digest = hashlib.sha256(system.encode()).digest()
                    system_id = text_ids.get(digest)
                    if system_id is None:
                        conn.execute(
                            "INSERT OR IGNORE INTO texts(hash, text) VALUES (?, ?)",
                            (digest, system),
                        )
                        system_id = conn.execute(
                            "SELECT id FROM texts WHERE hash = ?", (digest,)
                        ).fetchone()[0]
                        if len(text_ids) < 4096:
                            text_ids[digest] = system_id
                rows.append(tuple(system_id if c == "system_id" else rec.get(c) for c in COLUMNS))
            conn.executemany(_INSERT, rows)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self.written += len(records)

    # ------------------------------------------------------------------- reading
    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = _connect(self.path)
        return conn

    def lookup(self, keys: Sequence[str]) -> dict[str, tuple]:
        """Newest successful row per key, as tuples in `CACHE_COLUMNS` order."""
        out: dict[str, tuple] = {}
        conn = self._reader()
        cols = ", ".join(CACHE_COLUMNS)
        for i in range(0, len(keys), _LOOKUP_CHUNK):
            chunk = keys[i : i + _LOOKUP_CHUNK]
            sql = f"SELECT {cols} FROM responses WHERE error IS NULL AND key IN ({','.join('?' * len(chunk))}) ORDER BY id"
            for row in conn.execute(sql, chunk):
                out[row[0]] = row
        return out

    def entries(
        self,
        *,
        limit: int | None = 50,
        offset: int = 0,
        search: str | None = None,
        endpoint: str | None = None,
        model: str | None = None,
        tag: str | None = None,
        errors: bool | None = None,
        since: float | None = None,
        oldest_first: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Log entries, newest first, filtered; each as a dict with messages decoded."""
        where, args = [], []
        if search:
            where.append(
                "(r.messages LIKE ? OR r.response LIKE ? OR r.reasoning LIKE ? OR r.error LIKE ?)"
            )
            args += [f"%{search}%"] * 4
        for col, value in (("endpoint", endpoint), ("model", model), ("tag", tag)):
            if value is not None:
                where.append(f"r.{col} = ?")
                args.append(value)
        if errors is True:
            where.append("r.error IS NOT NULL")
        elif errors is False:
            where.append("r.error IS NULL")
        if since is not None:
            where.append("r.created_at >= ?")
            args.append(since)
        sql = (
            "SELECT t.text AS system, r.* FROM responses r LEFT JOIN texts t ON t.id = r.system_id"
        )
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY r.id {'ASC' if oldest_first else 'DESC'}"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args += [limit, offset]
        conn = _connect(self.path)  # own connection: callers may interleave lookups
        try:
            cur = conn.execute(sql, args)
            names = [d[0] for d in cur.description]
            for row in cur:
                yield _decode(dict(zip(names, row, strict=True)))
        finally:
            conn.close()

    def get(self, entry_id: int) -> dict[str, Any] | None:
        conn = self._reader()
        cur = conn.execute(
            "SELECT t.text AS system, r.* FROM responses r LEFT JOIN texts t ON t.id = r.system_id WHERE r.id = ?",
            (entry_id,),
        )
        row = cur.fetchone()
        if row is None:
            return None
        return _decode(dict(zip([d[0] for d in cur.description], row, strict=True)))

    def stats(self) -> dict[str, Any]:
        row = (
            self._reader()
            .execute(
                "SELECT COUNT(*), COUNT(error), COALESCE(SUM(cost), 0), COALESCE(SUM(input_tokens), 0), "
                "COALESCE(SUM(output_tokens), 0), MIN(created_at), MAX(created_at) FROM responses"
            )
            .fetchone()
        )
        keys = ("entries", "errors", "cost", "input_tokens", "output_tokens", "first", "last")
        return dict(zip(keys, row, strict=True))

    def __enter__(self) -> ResponseLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    """Turn a DB row into the exported record: full messages, ISO time, no internals."""
    messages = orjson.loads(row.pop("messages") or "[]")
    system = row.pop("system", None)
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    row.pop("system_id", None)
    row["messages"] = messages
    row["params"] = orjson.loads(row.get("params") or "{}")
    row["structured"] = bool(row.get("structured"))
    row["time"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(row["created_at"]))
    return row
