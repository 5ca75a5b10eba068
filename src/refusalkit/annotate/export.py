"""Export a project's labels as JSONL or CSV that `refusalkit train`/`evaluate` read.

The files are in the `prompt_response` shape the readers detect (`prompt`, `response`),
with the labels as extra columns (`behavior`, `category`), which the readers keep in
`Exchange.metadata` where training and evaluation look for label columns. Two kinds:

- `gold` (default): one row per item with a reference label (adjudicated, or every
  annotator agreeing); the `gold` column says which.
- `labels`: one row per (item, annotator) label, with an `annotator` column; optionally
  only one annotator's.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from refusalkit.annotate.agreement import reference_labels
from refusalkit.core.errors import ConfigError
from refusalkit.core.io import dumps

if TYPE_CHECKING:
    from refusalkit.annotate.store import Project

KINDS = ("gold", "labels")
COLUMNS = {
    "gold": [
        "id",
        "prompt",
        "response",
        "behavior",
        "category",
        "label",
        "gold",
        "n_labels",
        "comment",
    ],
    "labels": ["id", "prompt", "response", "behavior", "category", "label", "annotator", "comment"],
}
EXTRA = ["system", "earlier_turns", "source_file", "source_row"]


def export_rows(
    project: Project, kind: str = "gold", annotator: str | None = None
) -> Iterator[dict[str, Any]]:
    """The rows an export holds, in item order."""
    if kind not in KINDS:
        raise ConfigError(f"unknown export kind {kind!r}", hint="use --kind gold|labels")
    scheme = project.scheme
    if kind == "gold":
        ref = reference_labels(project)
        gold = project.gold()
        for pos in sorted(ref):
            ex = project.item(pos)
            if ex is None:
                continue
            r = ref[pos]
            yield {
                **_base(ex),
                "behavior": r["behavior"],
                "category": r["category"],
                "label": scheme.label_text(r["behavior"], r["category"]),
                "gold": r["source"],
                "n_labels": r["n_labels"],
                "comment": (gold.get(pos) or {}).get("comment", ""),
                **_extra(ex),
            }
        return
    if annotator is not None:
        project.require_annotator(annotator)
    cache: dict[int, Any] = {}
    for lab in project.all_labels():
        if annotator is not None and lab.annotator != annotator:
            continue
        if lab.pos not in cache:
            cache.clear()  # labels come sorted by item: keep only the current one
            cache[lab.pos] = project.item(lab.pos)
        ex = cache[lab.pos]
        yield {
            **_base(ex),
            "behavior": lab.behavior,
            "category": lab.category,
            "label": scheme.label_text(lab.behavior, lab.category),
            "annotator": lab.annotator,
            "comment": lab.comment,
            **_extra(ex),
        }


def _base(ex: Any) -> dict[str, Any]:
    return {"id": ex.id, "prompt": ex.prompt, "response": ex.response}


def _extra(ex: Any) -> dict[str, Any]:
    return {
        "system": ex.system,
        "earlier_turns": [m.to_dict() for m in ex.context],
        "source_file": ex.source.file,
        "source_row": ex.source.row,
    }


def encoder(kind: str, fmt: str) -> tuple[bytes, Callable[[dict[str, Any]], bytes]]:
    """(header bytes, row → bytes) for one export kind and format (jsonl or csv)."""
    if kind not in KINDS:
        raise ConfigError(f"unknown export kind {kind!r}", hint="use --kind gold|labels")
    if fmt not in ("csv", "jsonl"):
        raise ConfigError(f"unknown export format {fmt!r}", hint="use --format jsonl|csv")
    columns = COLUMNS[kind] + EXTRA
    if fmt == "jsonl":
        return b"", lambda row: dumps({c: row.get(c) for c in columns}) + b"\n"
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\r\n")

    def take() -> bytes:
        out = buf.getvalue().encode("utf-8")
        buf.seek(0)
        buf.truncate()
        return out

    def encode(row: dict[str, Any]) -> bytes:
        turns = row.get("earlier_turns")
        row = {**row, "earlier_turns": dumps(turns).decode() if turns else ""}
        writer.writerow({c: "" if row.get(c) is None else row[c] for c in columns})
        return take()

    writer.writeheader()
    return take(), encode


def export_chunks(
    project: Project, kind: str = "gold", fmt: str = "jsonl", annotator: str | None = None
) -> Iterator[bytes]:
    """The export as a stream of bytes (for a download), one row at a time."""
    header, encode = encoder(kind, fmt)
    if header:
        yield header
    for row in export_rows(project, kind, annotator):
        yield encode(row)


def export(
    project: Project,
    path: str | Path,
    *,
    kind: str = "gold",
    annotator: str | None = None,
    fmt: str | None = None,
) -> int:
    """Write the export atomically; the format comes from the suffix unless `fmt` is given.

    Returns the number of rows written.
    """
    path = Path(path)
    fmt = fmt or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
    header, encode = encoder(kind, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    n = 0
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(header)
            for row in export_rows(project, kind, annotator):
                fh.write(encode(row))
                n += 1
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n
