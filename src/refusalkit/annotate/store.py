"""The annotation project: one folder holding `project.sqlite` (WAL) with everything in it.

Why SQLite: labels must survive a closed tab or a killed server the moment they are
made, and several annotators (several browser tabs, or several `refusalkit annotate`
servers on the same folder) must be able to write at once. Every write is one short
`BEGIN IMMEDIATE` transaction, committed with `synchronous=FULL`.

Concurrency rules:
- A label is a row keyed by `(item, annotator)`: an annotator can only ever write their
  own rows, so two annotators cannot overwrite each other.
- Each row carries a `version`; a write names the version it was based on and fails with
  `Conflict` when the row changed meanwhile (the same annotator in two tabs), instead of
  silently overwriting. Gold labels use the same check.
- Every change is appended to `history` (before/after), which is what `undo` replays.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from refusalkit.annotate._db import DB_NAME, SCHEMA, _now, connect_db, validate_name
from refusalkit.annotate.assign import item_order_key, plan
from refusalkit.annotate.labels import LabelOps
from refusalkit.annotate.schemes import Scheme, get_scheme
from refusalkit.core.errors import ConfigError
from refusalkit.core.io import dumps, loads
from refusalkit.core.models import Exchange


class Project(LabelOps):
    """An annotation project folder. Cheap to construct; opens a connection per call."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder).resolve()
        self.db_path = self.folder / DB_NAME
        if not self.db_path.is_file():
            raise ConfigError(
                f"{self.folder} is not an annotation project (no {DB_NAME})",
                hint="create it with `refusalkit annotate PROJECT_DIR --data FILE --annotator NAME`",
            )
        self._meta = self._read_meta()
        self.scheme: Scheme = get_scheme(self._meta["scheme"], self._meta.get("taxonomy") or None)

    # -- creation ------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        folder: str | Path,
        data: str | Path | list[str | Path],
        *,
        scheme: str = "taxonomy",
        overlap: int = 2,
        shared: int = 0,
        seed: str = "0",
        taxonomy: str | None = None,
        reader_options: dict[str, Any] | None = None,
        limit: int | None = None,
    ) -> Project:
        """Make the folder and load the data once through `refusalkit.readers`."""
        from refusalkit.readers import read_exchanges

        get_scheme(scheme, taxonomy)  # fail before creating anything
        if overlap < 1 or shared < 0:
            raise ConfigError("--overlap must be >= 1 and --shared >= 0")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        db = folder / DB_NAME
        if db.exists():
            raise ConfigError(f"{folder} already holds an annotation project")
        inputs = data if isinstance(data, list) else [data]
        tmp = folder / (DB_NAME + ".loading")
        tmp.unlink(missing_ok=True)
        con = connect_db(tmp)
        try:
            con.executescript(SCHEMA)
            seen: dict[str, int] = {}
            batch: list[tuple[Any, ...]] = []
            pos = 0
            with read_exchanges(
                [str(p) for p in inputs], limit=limit, **(reader_options or {})
            ) as stream:
                for ex in stream:
                    batch.append(_item_row(pos, _unique_id(ex.id, seen), ex, seed))
                    pos += 1
                    if len(batch) >= 2000:
                        con.executemany("INSERT INTO items VALUES (?,?,?,?,?,?,?,?,?)", batch)
                        batch.clear()
                con.executemany("INSERT INTO items VALUES (?,?,?,?,?,?,?,?,?)", batch)
                stats = stream.stats.to_dict()
            if pos == 0:
                raise ConfigError(f"no exchanges found in {', '.join(map(str, inputs))}")
            meta = {
                "format": "refusalkit-annotation/1",
                "scheme": scheme,
                "taxonomy": taxonomy or "",
                "overlap": str(overlap),
                "shared": str(shared),
                "seed": seed,
                "created": _now(),
                "data": dumps([str(Path(p).resolve()) for p in inputs]).decode(),
                "read_stats": dumps({k: v for k, v in stats.items() if k != "files"}).decode(),
            }
            con.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
            con.commit()
        finally:
            con.close()
        tmp.replace(db)
        return cls(folder)

    # -- connections ---------------------------------------------------------------
    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        con = connect_db(self.db_path)
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: taken immediately so read-check-write is atomic."""
        with self.connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def _read_meta(self) -> dict[str, str]:
        with self.connect() as con:
            return dict(con.execute("SELECT key, value FROM meta").fetchall())

    @property
    def meta(self) -> dict[str, str]:
        return dict(self._meta)

    @property
    def overlap(self) -> int:
        return int(self._meta["overlap"])

    @property
    def shared(self) -> int:
        return int(self._meta["shared"])

    def n_items(self) -> int:
        with self.connect() as con:
            return con.execute("SELECT count(*) FROM items").fetchone()[0]

    # -- annotators and assignment -------------------------------------------------
    def annotators(self) -> list[str]:
        with self.connect() as con:
            return [r[0] for r in con.execute("SELECT name FROM annotators ORDER BY created, name")]

    def add_annotator(self, name: str) -> bool:
        """Register an annotator (idempotent) and rebalance the queues; True if new."""
        validate_name(name)
        with self.write() as con:
            cur = con.execute("INSERT OR IGNORE INTO annotators VALUES (?, ?)", (name, _now()))
            new = cur.rowcount == 1
            if new:
                self._rebalance(con)
        return new

    def set_overlap(self, overlap: int, shared: int | None = None) -> None:
        if overlap < 1 or (shared is not None and shared < 0):
            raise ConfigError("--overlap must be >= 1 and --shared >= 0")
        with self.write() as con:
            con.execute("UPDATE meta SET value=? WHERE key='overlap'", (str(overlap),))
            if shared is not None:
                con.execute("UPDATE meta SET value=? WHERE key='shared'", (str(shared),))
            self._meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
            self._rebalance(con)

    def _rebalance(self, con: sqlite3.Connection) -> None:
        names = [r[0] for r in con.execute("SELECT name FROM annotators ORDER BY name")]
        items = con.execute("SELECT pos, id FROM items ORDER BY order_key, pos").fetchall()
        done: dict[int, set[str]] = {}
        for pos, ann in con.execute(
            "SELECT pos, annotator FROM labels WHERE behavior IS NOT NULL OR skipped=1"
        ):
            done.setdefault(pos, set()).add(ann)
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        queues = plan(meta["seed"], items, names, int(meta["overlap"]), int(meta["shared"]), done)
        con.execute("DELETE FROM queue")
        for ann, positions in queues.items():
            con.executemany(
                "INSERT INTO queue VALUES (?, ?, ?)",
                ((ann, rank, pos) for rank, pos in enumerate(positions)),
            )

    def queue(self, annotator: str) -> list[int]:
        with self.connect() as con:
            return [
                r[0]
                for r in con.execute(
                    "SELECT pos FROM queue WHERE annotator=? ORDER BY rank", (annotator,)
                )
            ]

    def require_annotator(self, name: str) -> str:
        if name not in self.annotators():
            raise ConfigError(f"unknown annotator {name!r}", hint="add them with --annotator NAME")
        return name

    # -- items -----------------------------------------------------------------------
    def item(self, pos: int) -> Exchange | None:
        with self.connect() as con:
            row = con.execute(
                "SELECT id, prompt, response, context, system, source, metadata FROM items "
                "WHERE pos=?",
                (pos,),
            ).fetchone()
        if row is None:
            return None
        return Exchange.from_dict(
            {
                "id": row[0],
                "prompt": row[1],
                "response": row[2],
                "context": loads(row[3]),
                "system": row[4],
                "source": loads(row[5]),
                "metadata": loads(row[6]),
            }
        )

    def item_ids(self) -> dict[int, str]:
        with self.connect() as con:
            return dict(con.execute("SELECT pos, id FROM items"))

    def iter_items(self) -> Iterator[tuple[int, Exchange]]:
        with self.connect() as con:
            positions = [r[0] for r in con.execute("SELECT pos FROM items ORDER BY pos")]
        for pos in positions:
            ex = self.item(pos)
            if ex is not None:
                yield pos, ex


def _unique_id(item_id: str, seen: dict[str, int]) -> str:
    n = seen.get(item_id, 0)
    seen[item_id] = n + 1
    return item_id if n == 0 else f"{item_id}#{n + 1}"


def _item_row(pos: int, item_id: str, ex: Exchange, seed: str) -> tuple[Any, ...]:
    return (
        pos,
        item_id,
        ex.prompt,
        ex.response,
        dumps([m.to_dict() for m in ex.context]).decode(),
        ex.system,
        dumps(ex.source.to_dict()).decode(),
        dumps(ex.metadata).decode(),
        item_order_key(seed, item_id),
    )
