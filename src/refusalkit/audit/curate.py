"""Curation: `--keep`/`--drop` filters turn an audit into a filtered copy of each dataset.

Filters are `FIELD=VALUE[,VALUE...]` with FIELD one of `behavior`, `category`, `group`
(docs/audit.md). They are applied to a finished audit's `results.parquet`, so curating
never re-classifies and can be redone with other filters (`refusalkit audit curate`).

Rows, not turns, are kept or removed, because a dataset row is what its format holds:
- a row is **removed** when any of its considered turns matches a `--drop` filter;
- with `--keep` filters, a row is **kept** only when at least one considered turn
  matches one of them (and none matches a `--drop`);
- considered turns: every assistant turn (`--turns all`, default) or only the last
  one of each conversation/side (`--turns final`); for preference pairs, both sides
  (`--side any`, default) or only `chosen` / only `rejected`. A pair is written or
  removed whole: one side cannot be removed in the pair's own format.
- unjudged turns never match a filter unless it names `behavior=unjudged`; `group`
  filters match refusals only; rows the reader could not read (`--skip-bad`) are
  removed and listed.
Every removed row goes into `curated/removed.jsonl` with the reason and the turns that
matched; `curated/manifest.json` has the counts per dataset and reason.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from refusalkit.audit.formats import copy_filtered
from refusalkit.core.errors import ConfigError, RefusalkitError
from refusalkit.core.io import JsonlWriter, atomic_write, dumps_pretty
from refusalkit.readers.records import Record, detect_format
from refusalkit.reports.composition import REFUSALS, UNJUDGED
from refusalkit.reports.results import input_fingerprint, iter_results, read_run_json, results_path

FIELDS = ("behavior", "category", "group")
BEHAVIORS = ("full_compliance", "partial_refusal", "full_refusal", "unjudged")
ALIASES = {
    "behavior": {
        "refusal": ("partial_refusal", "full_refusal"),
        "refusals": ("partial_refusal", "full_refusal"),
        "compliance": ("full_compliance",),
        "full": ("full_refusal",),
        "partial": ("partial_refusal",),
    },
    "group": {"should-not": ("should_not",), "no_reason": ("none",)},
}
SYNTAX_HINT = (
    "write FIELD=VALUE[,VALUE...] with FIELD behavior, category or group, e.g. "
    "--drop behavior=full_refusal --drop category=privacy,modalities --keep group=should_not"
)
COLUMNS = (
    "dataset",
    "source_file",
    "row",
    "line",
    "id",
    "turn",
    "side",
    "behavior",
    "category",
    "group",
    "turn_final",
)


@dataclass(frozen=True)
class Filter:
    """One `--keep`/`--drop` filter: a field and the values it matches."""

    field: str
    values: frozenset[str]
    text: str

    def matches(self, t: Mapping[str, Any]) -> bool:
        b = t.get("behavior")
        if self.field == "behavior":
            return b in self.values
        if self.field == "category":
            return b != UNJUDGED and t.get("category") in self.values
        return b in REFUSALS and (t.get("group") or "none") in self.values


def parse_filter(text: str) -> Filter:
    """`behavior=full_refusal`, `category=privacy,modalities`, `group=cannot`, ..."""
    from refusalkit.taxonomy import load_taxonomy

    field, eq, raw = text.partition("=")
    field = field.strip().lower()
    if not eq or field not in FIELDS or not raw.strip():
        raise ConfigError(f"cannot read the filter {text!r}", hint=SYNTAX_HINT)
    allowed = {
        "behavior": BEHAVIORS,
        "category": tuple(load_taxonomy().ids),
        "group": ("should_not", "cannot", "none"),
    }[field]
    values: set[str] = set()
    for v in (x.strip().lower().replace(" ", "_") for x in raw.split(",")):
        if v in ALIASES.get(field, {}):
            values.update(ALIASES[field][v])
        elif v.replace("-", "_") in allowed:
            values.add(v.replace("-", "_"))
        else:
            raise ConfigError(
                f"unknown {field} {v!r} in the filter {text!r}",
                hint=f"{field} is one of: {', '.join(allowed)}"
                + (f" (or {', '.join(ALIASES[field])})" if field in ALIASES else ""),
            )
    return Filter(field, frozenset(values), f"{field}={raw.strip()}")


@dataclass
class CurationOptions:
    drop: Sequence[Filter] = ()
    keep: Sequence[Filter] = ()
    turns: str = "all"  # all | final
    side: str = "any"  # any | chosen | rejected

    def __post_init__(self) -> None:
        if self.turns not in ("all", "final"):
            raise ConfigError(
                f"--turns must be all or final, not {self.turns!r}", hint="--turns all|final"
            )
        if self.side not in ("any", "chosen", "rejected"):
            raise ConfigError(
                f"--side must be any, chosen or rejected, not {self.side!r}",
                hint="--side any|chosen|rejected",
            )

    @property
    def active(self) -> bool:
        return bool(self.drop or self.keep)

    def to_dict(self) -> dict[str, Any]:
        return {
            "drop": [f.text for f in self.drop],
            "keep": [f.text for f in self.keep],
            "turns": self.turns,
            "side": self.side,
        }


def _folder(name: str) -> str:
    """A dataset name as one safe folder name (names may hold `/`, never escape `out`)."""
    safe = re.sub(r"[^\w.+-]+", "_", name).strip("._")
    return safe or "dataset"


class _Peek:
    def __init__(self, it: Iterator[dict[str, Any]]) -> None:
        self.it, self.head = it, next(it, None)

    def pop(self) -> dict[str, Any]:
        cur, self.head = self.head, next(self.it, None)
        return cur  # type: ignore[return-value]


class _Decider:
    """Walks a dataset's rows and its results side by side (both are in file order)."""

    def __init__(self, name: str, rows: _Peek, opts: CurationOptions, log: JsonlWriter) -> None:
        self.name, self.rows, self.opts, self.log = name, rows, opts, log
        self.reasons: Counter[str] = Counter()

    def __call__(self, file: str, row: int, rec: Record | None) -> bool:
        turns = []
        head = self.rows.head
        while (
            head is not None
            and head["dataset"] == self.name
            and head["source_file"] == file
            and head["row"] == row
        ):
            turns.append(self.rows.pop())
            head = self.rows.head
        if rec is not None and rec.error is not None:
            return self._remove(
                file, row, rec.line, "unreadable row (rejected by the reader)", [], rec.error.reason
            )
        line = turns[0]["line"] if turns else (rec.line if rec is not None else None)
        o = self.opts
        considered = [
            t
            for t in turns
            if (o.turns == "all" or t.get("turn_final", True))
            and (o.side == "any" or t.get("side") in (None, o.side))
        ]
        for f in o.drop:
            hits = [t for t in considered if f.matches(t)]
            if hits:
                return self._remove(file, row, line, f"--drop {f.text}", hits)
        if o.keep:
            if not turns:
                return self._remove(file, row, line, "--keep: row has no assistant turn", [])
            if not any(f.matches(t) for t in considered for f in o.keep):
                return self._remove(file, row, line, "--keep: no turn matched", considered)
        return True

    def _remove(
        self,
        file: str,
        row: int,
        line: int | None,
        reason: str,
        turns: list[dict[str, Any]],
        detail: str | None = None,
    ) -> bool:
        self.reasons[reason] += 1
        entry: dict[str, Any] = {
            "dataset": self.name,
            "file": file,
            "row": row,
            "line": line,
            "reason": reason,
        }
        if detail:
            entry["detail"] = detail
        entry["turns"] = [
            {k: t.get(k) for k in ("id", "turn", "side", "behavior", "category", "group")}
            for t in turns
        ]
        self.log.write(entry)
        return False


def curate_run(
    run_dir: str | Path, opts: CurationOptions, out_dir: str | Path | None = None
) -> dict[str, Any]:
    """Write filtered copies of the audited datasets plus the manifest; return the manifest."""
    run = Path(run_dir)
    info = read_run_json(run)
    if info.get("kind") != "audit-data":
        raise ConfigError(
            f"{run} is a {info.get('kind')} run, not a dataset audit",
            hint="curate a folder written by `refusalkit audit data`",
        )
    cfg = info.get("config") or {}
    if cfg.get("limit") is not None:
        raise ConfigError(
            "this audit stopped early (--limit), so the rest of each dataset has no verdicts to filter on",
            hint="rerun the audit without --limit to curate",
        )
    out = Path(out_dir) if out_dir else run / "curated"
    inputs = info.get("inputs") or []
    for inp in inputs:
        now = input_fingerprint(inp["path"])
        if (now["size"], now["mtime"]) != (inp["size"], inp["mtime"]):
            raise ConfigError(
                f"{inp['path']} changed since it was audited",
                hint="rerun the audit (with --overwrite) before curating",
            )
    rows = _Peek(iter_results(results_path(run), COLUMNS))
    manifest: dict[str, Any] = {"run": str(run), "filters": opts.to_dict(), "datasets": []}
    with JsonlWriter(out / "removed.jsonl") as log:
        for inp in inputs:
            name, path = inp["name"], inp["path"]
            fmt = detect_format(path, cfg.get("format"))
            dst = out / _folder(name) / Path(path.rstrip("/")).name
            decider = _Decider(name, rows, opts, log)
            seen, kept = copy_filtered(
                path, fmt, dst, decider, encoding=cfg.get("encoding"), split=cfg.get("split")
            )
            if rows.head is not None and rows.head["dataset"] == name:
                raise RefusalkitError(
                    f"results for {name} do not line up with {path} (row {rows.head['row']} of "
                    f"{rows.head['source_file']} was not found)",
                    hint="the input may have changed since the audit; rerun it with --overwrite",
                )
            removed = seen - kept
            assert removed == sum(decider.reasons.values()), "every removed row is logged"
            manifest["datasets"].append(
                {
                    "dataset": name,
                    "input": path,
                    "output": str(dst),
                    "format": fmt,
                    "rows": seen,
                    "kept": kept,
                    "removed": removed,
                    "removed_by_reason": dict(decider.reasons),
                }
            )
    manifest["removed_rows_file"] = str(out / "removed.jsonl")
    manifest["totals"] = {
        k: sum(d[k] for d in manifest["datasets"]) for k in ("rows", "kept", "removed")
    }
    atomic_write(out / "manifest.json", dumps_pretty(manifest) + "\n")
    return manifest
