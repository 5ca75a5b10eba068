"""Low-level pieces of the project database: schema, connection settings, row helpers.

Split from `store` so the label operations (`labels`) and the project (`store`) share
them without a cycle. See `store` for the concurrency rules these implement.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from refusalkit.core.errors import ConfigError, RefusalkitError
from refusalkit.core.io import dumps

DB_NAME = "project.sqlite"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items(
  pos INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, prompt TEXT NOT NULL,
  response TEXT NOT NULL, context TEXT NOT NULL, system TEXT, source TEXT NOT NULL,
  metadata TEXT NOT NULL, order_key BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS items_order ON items(order_key, pos);
CREATE TABLE IF NOT EXISTS annotators(name TEXT PRIMARY KEY, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS queue(
  annotator TEXT NOT NULL, rank INTEGER NOT NULL, pos INTEGER NOT NULL,
  PRIMARY KEY(annotator, rank), UNIQUE(annotator, pos));
CREATE TABLE IF NOT EXISTS labels(
  pos INTEGER NOT NULL, annotator TEXT NOT NULL, behavior TEXT, category TEXT,
  comment TEXT NOT NULL DEFAULT '', skipped INTEGER NOT NULL DEFAULT 0,
  version INTEGER NOT NULL, updated TEXT NOT NULL, PRIMARY KEY(pos, annotator));
CREATE TABLE IF NOT EXISTS history(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, annotator TEXT NOT NULL, pos INTEGER NOT NULL,
  action TEXT NOT NULL, before TEXT, after TEXT NOT NULL, at TEXT NOT NULL,
  undone INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS gold(
  pos INTEGER PRIMARY KEY, behavior TEXT NOT NULL, category TEXT,
  comment TEXT NOT NULL DEFAULT '', adjudicator TEXT NOT NULL, version INTEGER NOT NULL,
  updated TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS predictions(
  source TEXT NOT NULL, pos INTEGER NOT NULL, behavior TEXT, category TEXT,
  unjudged_reason TEXT, PRIMARY KEY(source, pos));
"""


class Conflict(RefusalkitError):
    """The row changed since the page was loaded (another tab or window wrote it)."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(slots=True)
class Label:
    """One annotator's row for one item; `behavior` None means not labelled (yet)."""

    pos: int
    annotator: str
    behavior: str | None = None
    category: str | None = None
    comment: str = ""
    skipped: bool = False
    version: int = 0
    updated: str = ""

    @property
    def done(self) -> bool:
        return self.behavior is not None or self.skipped

    def state(self) -> dict[str, Any]:
        return {
            "behavior": self.behavior,
            "category": self.category,
            "comment": self.comment,
            "skipped": self.skipped,
            "version": self.version,
        }


@dataclass(slots=True)
class Progress:
    total: int
    labelled: int
    skipped: int

    @property
    def remaining(self) -> int:
        return self.total - self.labelled - self.skipped


def validate_name(name: str, what: str = "annotator") -> str:
    if not NAME_RE.match(name or ""):
        raise ConfigError(
            f"invalid {what} name {name!r}",
            hint="use 1-40 letters, digits, '_', '.' or '-', starting with a letter or digit",
        )
    return name


def connect_db(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("PRAGMA busy_timeout=30000")
    return con


def _label(r: tuple[Any, ...]) -> Label:
    return Label(r[0], r[1], r[2], r[3], r[4] or "", bool(r[5]), r[6], r[7])


def _get_label(con: sqlite3.Connection, pos: int, annotator: str) -> Label:
    row = con.execute(
        "SELECT pos, annotator, behavior, category, comment, skipped, version, updated "
        "FROM labels WHERE pos=? AND annotator=?",
        (pos, annotator),
    ).fetchone()
    return _label(row) if row else Label(pos, annotator)


def _put_label(con: sqlite3.Connection, lab: Label) -> None:
    con.execute(
        "INSERT OR REPLACE INTO labels VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            lab.pos,
            lab.annotator,
            lab.behavior,
            lab.category,
            lab.comment,
            int(lab.skipped),
            lab.version,
            lab.updated,
        ),
    )


def _log(
    con: sqlite3.Connection, annotator: str, pos: int, action: str, before: Label, after: Label
) -> None:
    con.execute(
        "INSERT INTO history(annotator, pos, action, before, after, at) VALUES (?,?,?,?,?,?)",
        (
            annotator,
            pos,
            action,
            dumps(before.state()).decode() if before.version else None,
            dumps(after.state()).decode(),
            after.updated,
        ),
    )


def check_item(con: sqlite3.Connection, pos: int) -> None:
    if con.execute("SELECT 1 FROM items WHERE pos=?", (pos,)).fetchone() is None:
        raise ConfigError(f"no item {pos} in this project")


def check_annotator(con: sqlite3.Connection, name: str) -> None:
    if con.execute("SELECT 1 FROM annotators WHERE name=?", (name,)).fetchone() is None:
        raise ConfigError(f"unknown annotator {name!r}")
