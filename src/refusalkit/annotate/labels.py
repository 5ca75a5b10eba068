"""Label, undo, gold and prediction operations of a project (a mixin of `Project`).

Every write is one `BEGIN IMMEDIATE` transaction that re-reads the row, checks the
version the page was based on, writes the new state and appends the change to
`history`, so concurrent tabs and servers never lose or overwrite each other's work.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from refusalkit.annotate._db import (
    Conflict,
    Label,
    Progress,
    _get_label,
    _label,
    _log,
    _now,
    _put_label,
    check_annotator,
    check_item,
    validate_name,
)
from refusalkit.core.io import loads

if TYPE_CHECKING:
    from refusalkit.annotate.schemes import Scheme


class LabelOps:
    """Needs `connect()`, `write()` and `scheme` from the class it is mixed into."""

    scheme: Scheme

    def connect(self) -> AbstractContextManager[sqlite3.Connection]:  # pragma: no cover
        raise NotImplementedError

    def write(self) -> AbstractContextManager[sqlite3.Connection]:  # pragma: no cover
        raise NotImplementedError

    def label(self, pos: int, annotator: str) -> Label:
        with self.connect() as con:
            return _get_label(con, pos, annotator)

    def labels_for_item(self, pos: int) -> list[Label]:
        with self.connect() as con:
            rows = con.execute(
                "SELECT pos, annotator, behavior, category, comment, skipped, version, updated "
                "FROM labels WHERE pos=? ORDER BY annotator",
                (pos,),
            ).fetchall()
        return [_label(r) for r in rows]

    def all_labels(self) -> list[Label]:
        """Every made label (skipped and cleared rows left out)."""
        with self.connect() as con:
            rows = con.execute(
                "SELECT pos, annotator, behavior, category, comment, skipped, version, updated "
                "FROM labels WHERE behavior IS NOT NULL ORDER BY pos, annotator"
            ).fetchall()
        return [_label(r) for r in rows]

    def progress(self, annotator: str) -> Progress:
        with self.connect() as con:
            total, labelled, skipped = con.execute(
                "SELECT count(*), count(l.behavior), "
                "coalesce(sum(l.behavior IS NULL AND l.skipped=1), 0) FROM queue q "
                "LEFT JOIN labels l ON l.pos=q.pos AND l.annotator=q.annotator "
                "WHERE q.annotator=?",
                (annotator,),
            ).fetchone()
        return Progress(total, labelled, skipped)

    def next_pos(self, annotator: str, *, include_skipped: bool = False) -> int | None:
        """The first item of the annotator's queue not yet labelled (or skipped)."""
        cond = (
            "l.behavior IS NULL"
            if include_skipped
            else "(l.behavior IS NULL AND coalesce(l.skipped,0)=0)"
        )
        with self.connect() as con:
            row = con.execute(
                "SELECT q.pos FROM queue q LEFT JOIN labels l ON l.pos=q.pos "
                f"AND l.annotator=q.annotator WHERE q.annotator=? AND {cond} ORDER BY q.rank "
                "LIMIT 1",
                (annotator,),
            ).fetchone()
        return None if row is None else row[0]

    def neighbours(self, annotator: str, pos: int) -> tuple[int | None, int | None, int | None]:
        """(previous pos, next pos, 0-based rank) of an item in the annotator's queue."""
        with self.connect() as con:
            row = con.execute(
                "SELECT rank FROM queue WHERE annotator=? AND pos=?", (annotator, pos)
            ).fetchone()
            if row is None:
                return None, None, None
            rank = row[0]
            prev = con.execute(
                "SELECT pos FROM queue WHERE annotator=? AND rank=?", (annotator, rank - 1)
            ).fetchone()
            nxt = con.execute(
                "SELECT pos FROM queue WHERE annotator=? AND rank=?", (annotator, rank + 1)
            ).fetchone()
        return (prev[0] if prev else None), (nxt[0] if nxt else None), rank

    def save_label(
        self,
        annotator: str,
        pos: int,
        behavior: str | None,
        category: str | None,
        comment: str = "",
        *,
        expected_version: int,
        skip: bool = False,
    ) -> Label:
        """Write (or skip) one label; `Conflict` if the row is not at `expected_version`."""
        if not skip:
            behavior, category = self.scheme.normalize(behavior, category)
        comment = (comment or "")[:5000]
        with self.write() as con:
            check_item(con, pos)
            check_annotator(con, annotator)
            before = _get_label(con, pos, annotator)
            if before.version != expected_version:
                raise Conflict(
                    f"item {pos} was changed by {annotator} in another window "
                    f"(version {before.version}, this page had {expected_version})",
                    hint="reload the page to see the current label",
                )
            if skip and before.behavior is not None:
                return before  # skipping a labelled item keeps its label
            after = Label(
                pos,
                annotator,
                None if skip else behavior,
                None if skip else category,
                comment,
                skip,
                before.version + 1,
                _now(),
            )
            _put_label(con, after)
            _log(con, annotator, pos, "skip" if skip else "label", before, after)
        return after

    def undo(self, annotator: str) -> int | None:
        """Revert the annotator's latest change; returns its item position (None: nothing)."""
        with self.write() as con:
            row = con.execute(
                "SELECT seq, pos, before FROM history WHERE annotator=? AND undone=0 "
                "ORDER BY seq DESC LIMIT 1",
                (annotator,),
            ).fetchone()
            if row is None:
                return None
            seq, pos, before_json = row
            current = _get_label(con, pos, annotator)
            before = loads(before_json) if before_json else {}
            restored = Label(
                pos,
                annotator,
                before.get("behavior"),
                before.get("category"),
                before.get("comment") or "",
                bool(before.get("skipped")),
                current.version + 1,
                _now(),
            )
            _put_label(con, restored)
            con.execute("UPDATE history SET undone=1 WHERE seq=?", (seq,))
        return pos

    # -- gold (adjudication) -------------------------------------------------------
    def gold(self) -> dict[int, dict[str, Any]]:
        with self.connect() as con:
            rows = con.execute(
                "SELECT pos, behavior, category, comment, adjudicator, version, updated FROM gold"
            ).fetchall()
        keys = ("behavior", "category", "comment", "adjudicator", "version", "updated")
        return {r[0]: dict(zip(keys, r[1:], strict=True)) for r in rows}

    def set_gold(
        self,
        pos: int,
        behavior: str | None,
        category: str | None,
        *,
        adjudicator: str,
        expected_version: int,
        comment: str = "",
    ) -> int:
        """Record the adjudicated label of an item; returns the new version."""
        behavior, category = self.scheme.normalize(behavior, category)
        validate_name(adjudicator, "adjudicator")
        with self.write() as con:
            check_item(con, pos)
            row = con.execute("SELECT version FROM gold WHERE pos=?", (pos,)).fetchone()
            version = row[0] if row else 0
            if version != expected_version:
                raise Conflict(
                    f"the gold label of item {pos} was changed meanwhile",
                    hint="reload the page to see it",
                )
            con.execute(
                "INSERT OR REPLACE INTO gold VALUES (?, ?, ?, ?, ?, ?, ?)",
                (pos, behavior, category, (comment or "")[:5000], adjudicator, version + 1, _now()),
            )
        return version + 1

    def clear_gold(self, pos: int, *, expected_version: int) -> None:
        with self.write() as con:
            row = con.execute("SELECT version FROM gold WHERE pos=?", (pos,)).fetchone()
            if row is None:
                return
            if row[0] != expected_version:
                raise Conflict(f"the gold label of item {pos} was changed meanwhile")
            con.execute("DELETE FROM gold WHERE pos=?", (pos,))

    # -- model predictions (cached for the model-vs-human page) --------------------
    def save_predictions(
        self, source: str, rows: list[tuple[int, str | None, str | None, str | None]]
    ) -> None:
        with self.write() as con:
            con.execute("DELETE FROM predictions WHERE source=?", (source,))
            con.executemany(
                "INSERT INTO predictions VALUES (?, ?, ?, ?, ?)",
                ((source, *r) for r in rows),
            )

    def prediction_sources(self) -> list[str]:
        with self.connect() as con:
            return [
                r[0] for r in con.execute("SELECT DISTINCT source FROM predictions ORDER BY source")
            ]

    def predictions(self, source: str) -> dict[int, tuple[str | None, str | None, str | None]]:
        with self.connect() as con:
            return {
                r[0]: (r[1], r[2], r[3])
                for r in con.execute(
                    "SELECT pos, behavior, category, unjudged_reason FROM predictions "
                    "WHERE source=?",
                    (source,),
                )
            }
