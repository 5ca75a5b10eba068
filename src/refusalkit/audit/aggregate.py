"""Incremental, mergeable aggregation of audit results: counters, never row lists.

An `Aggregate` consumes results rows (the dicts written to `results.parquet`) one at a
time and keeps only counts (`Composition`s per dataset, source file, turn index and
preference side; final-turn pair tables; refusal-opener counts) plus bounded example
reservoirs, so memory does not grow with the dataset. Each shard of an audit builds its
own Aggregate; `merge` adds them up. Every part is order-independent — sums, and
bottom-k example sampling by a hash of the row's identity — so the local engine, Ray
and `refusalkit report` (which re-aggregates `results.parquet`) all get identical
numbers from the same rows. The one exception is documented on `OPENER_CAP`.

Counting rules (docs/audit.md):
- composition counts each distinct answer once: a rejected-side turn identical to the
  chosen side (`distinct == False`) is left out (it is still in results.parquet);
- preference pairs are counted once per pair, on the final turn of each side.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from refusalkit.reports.composition import REFUSALS, UNJUDGED, Composition

#: Run-specific results columns of a dataset audit (after `reports.results.BASE_COLUMNS`).
AUDIT_COLUMNS: dict[str, str] = {
    "dataset": "string",
    "turn_final": "bool",
    "distinct": "bool",
    "prompt": "string",
    "response": "string",
}
#: Columns the aggregation reads back from results.parquet.
AGG_COLUMNS = (
    "id",
    "source_file",
    "row",
    "line",
    "turn",
    "side",
    "behavior",
    "refusal_score",
    "category",
    "group",
    "unjudged_reason",
    "rationale",
    "dataset",
    "turn_final",
    "distinct",
    "prompt",
    "response",
)
#: Distinct refusal openers kept per dataset and aggregate before the rarest (count 1)
#: are pruned. Below this the opener counts are exact; above it they are a lower bound
#: and the report says how many occurrences were pruned.
OPENER_CAP = 50_000
EXAMPLE_CHARS = 2000
SIDES = ("chosen", "rejected")
_WORD = re.compile(r"\S+")
_SENT_END = re.compile(r"[.!?\n]")
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})


def opener(text: str | None, words: int = 6) -> str:
    """The first words of a response's first sentence, normalised, for frequency tables."""
    if not text:
        return ""
    head = text[:300].strip().translate(_QUOTES).lower()
    m = _SENT_END.search(head)
    if m is not None and m.start() > 0:
        head = head[: m.start()]
    out = " ".join(_WORD.findall(head)[:words])
    return out.rstrip(",;:-–— ")


def turn_bucket(turn: int | None) -> str:
    if turn is None:
        return "-"
    return str(turn) if turn < 10 else "10+"


def _hash(*parts: Any) -> int:
    """A stable 64-bit hash of a row's identity (bottom-k example sampling)."""
    key = "\x1f".join("" if p is None else str(p) for p in parts).encode()
    return (zlib.crc32(key) << 32) | zlib.crc32(key, 0x9E3779B9)


def _clip(text: str | None, n: int = EXAMPLE_CHARS) -> str:
    if not text:
        return ""
    return text if len(text) <= n else text[:n] + " …"


class Aggregate:
    """Counts and bounded examples over results rows (see module docstring)."""

    def __init__(self, examples: int = 5) -> None:
        self.k = examples
        self.comps: dict[tuple[str, str, str], Composition] = {}
        self.pairs: Counter[tuple[str, str, str]] = Counter()
        self.pairs_identical: Counter[str] = Counter()
        self.pairs_incomplete: Counter[str] = Counter()
        self.openers: dict[str, Counter[str]] = {}
        self.openers_pruned: Counter[str] = Counter()
        self.examples: dict[tuple[str, str, str], list[tuple[int, dict[str, Any]]]] = {}
        self.read_stats: dict[str, dict[str, dict[str, Any]]] = {}
        self.datasets: list[str] = []
        self._pair_key: tuple[Any, ...] | None = None
        self._pair: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ adding rows
    def comp(self, dataset: str, dim: str, key: str) -> Composition:
        c = self.comps.get((dataset, dim, key))
        if c is None:
            c = self.comps[(dataset, dim, key)] = Composition()
            if dataset not in self.datasets:
                self.datasets.append(dataset)
        return c

    def add(self, row: Mapping[str, Any]) -> None:
        """Count one results row (rows of one source row must arrive together)."""
        d = row["dataset"]
        b = row["behavior"]
        cat, grp, why = row.get("category"), row.get("group"), row.get("unjudged_reason")
        side = row.get("side")
        if side is not None:
            self.comp(d, "side", side).add(b, cat, grp, why)
            key = (d, row.get("source_file"), row.get("row"))
            if key != self._pair_key:
                self._flush_pair()
                self._pair_key = key
            if row.get("turn_final", True):
                self._pair[side] = row
        elif self._pair_key is not None:
            self._flush_pair()
        if not row.get("distinct", True):
            return
        self.comp(d, "total", "").add(b, cat, grp, why)
        self.comp(d, "file", row.get("source_file") or "").add(b, cat, grp, why)
        self.comp(d, "turn", turn_bucket(row.get("turn"))).add(b, cat, grp, why)
        if b in REFUSALS:
            ops = self.openers.get(d)
            if ops is None:
                ops = self.openers[d] = Counter()
            ops[opener(row.get("response"))] += 1
            if len(ops) > OPENER_CAP:
                self._prune(d)
            self._offer((d, "category", cat or "no_reason"), row)
        elif b == UNJUDGED:
            self._offer((d, "unjudged", why or "unknown"), row)
        else:
            self._offer((d, "category", "not_refusal"), row)

    def add_rows(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            self.add(row)

    def finish(self) -> Aggregate:
        """Count the last pending preference pair; call once all rows are added."""
        self._flush_pair()
        return self

    def _flush_pair(self) -> None:
        pair, self._pair, self._pair_key = self._pair, {}, None
        if not pair:
            return
        c, r = pair.get("chosen"), pair.get("rejected")
        d = (c or r)["dataset"]  # type: ignore[index]
        if c is None or r is None:
            self.pairs_incomplete[d] += 1
            return
        cb, rb = c["behavior"], r["behavior"]
        self.pairs[(d, cb, rb)] += 1
        if not r.get("distinct", True):
            self.pairs_identical[d] += 1
            return
        c_ref, r_ref = cb in REFUSALS, rb in REFUSALS
        if UNJUDGED not in (cb, rb) and c_ref != r_ref:
            kind = "chosen_refuses" if c_ref else "rejected_refuses"
            ex = self._example(c)
            ex["rejected_response"] = _clip(r.get("response"))
            ex["rejected_behavior"], ex["rejected_category"] = rb, r.get("category")
            self._keep((d, "pair", kind), _hash(d, c.get("source_file"), c.get("row")), ex)

    def _prune(self, d: str) -> None:
        ops = self.openers[d]
        ones = [k for k, n in ops.items() if n == 1]
        for k in ones:
            del ops[k]
        self.openers_pruned[d] += len(ones)

    # ------------------------------------------------------------------ examples
    @staticmethod
    def _example(row: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "id": row.get("id"),
            "dataset": row.get("dataset"),
            "source_file": row.get("source_file"),
            "row": row.get("row"),
            "line": row.get("line"),
            "turn": row.get("turn"),
            "side": row.get("side"),
            "behavior": row.get("behavior"),
            "category": row.get("category"),
            "group": row.get("group"),
            "refusal_score": row.get("refusal_score"),
            "unjudged_reason": row.get("unjudged_reason"),
            "rationale": _clip(row.get("rationale"), 300) or None,
            "prompt": _clip(row.get("prompt")),
            "response": _clip(row.get("response")),
        }

    def _offer(self, key: tuple[str, str, str], row: Mapping[str, Any]) -> None:
        if self.k <= 0:
            return
        h = _hash(
            row["dataset"], row.get("source_file"), row.get("row"), row.get("turn"), row.get("side")
        )
        kept = self.examples.get(key)
        if kept is not None and len(kept) >= self.k and h >= kept[-1][0]:
            return
        self._keep(key, h, self._example(row))

    def _keep(self, key: tuple[str, str, str], h: int, ex: dict[str, Any]) -> None:
        if self.k <= 0:
            return
        kept = self.examples.setdefault(key, [])
        if any(x[0] == h for x in kept):
            return
        kept.append((h, ex))
        kept.sort(key=lambda x: x[0])
        del kept[self.k :]

    # ------------------------------------------------------------------ read stats
    def add_read_stats(self, dataset: str, files: Iterable[Mapping[str, Any]]) -> None:
        """Sum `FileStats.to_dict()` entries (per shard) into per-dataset, per-file totals."""
        per = self.read_stats.setdefault(dataset, {})
        if dataset not in self.datasets:
            self.datasets.append(dataset)
        for fs in files:
            cur = per.get(fs["file"])
            if cur is None:
                per[fs["file"]] = {
                    k: (dict(v) if isinstance(v, dict) else v) for k, v in fs.items()
                }
                continue
            for k, v in fs.items():
                if isinstance(v, bool) or k in ("file", "format", "split"):
                    continue
                if isinstance(v, int):
                    cur[k] = cur.get(k, 0) + v
                elif isinstance(v, dict) and k != "fields":
                    tgt = cur.setdefault(k, {})
                    for kk, vv in v.items():
                        tgt[kk] = tgt.get(kk, 0) + vv
                elif cur.get(k) is None:
                    cur[k] = v

    # ------------------------------------------------------------------ merge / JSON
    def merge(self, other: Aggregate) -> Aggregate:
        for d in other.datasets:
            if d not in self.datasets:
                self.datasets.append(d)
        for key, c in other.comps.items():
            self.comp(*key).merge(c)
        self.pairs.update(other.pairs)
        self.pairs_identical.update(other.pairs_identical)
        self.pairs_incomplete.update(other.pairs_incomplete)
        for d, ops in other.openers.items():
            mine = self.openers.setdefault(d, Counter())
            mine.update(ops)
            if len(mine) > OPENER_CAP:
                self._prune(d)
        self.openers_pruned.update(other.openers_pruned)
        for key, items in other.examples.items():
            for h, ex in items:
                self._keep(key, h, ex)
        for d, files in other.read_stats.items():
            self.add_read_stats(d, files.values())
        return self

    def to_json(self) -> dict[str, Any]:
        def counters(c: Composition) -> dict[str, dict[str, int]]:
            return {
                "behavior": dict(c.behavior),
                "group": dict(c.group),
                "category": dict(c.category),
                "unjudged_reasons": dict(c.unjudged_reasons),
            }

        return {
            "datasets": self.datasets,
            "comps": [[*k, counters(c)] for k, c in self.comps.items()],
            "pairs": [[*k, n] for k, n in self.pairs.items()],
            "pairs_identical": dict(self.pairs_identical),
            "pairs_incomplete": dict(self.pairs_incomplete),
            "openers": {d: list(c.items()) for d, c in self.openers.items()},
            "openers_pruned": dict(self.openers_pruned),
            "examples": [[*k, [[h, ex] for h, ex in v]] for k, v in self.examples.items()],
            "read_stats": self.read_stats,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], examples: int = 5) -> Aggregate:
        agg = cls(examples)
        agg.datasets = list(data.get("datasets") or [])
        for d, dim, key, cs in data.get("comps") or []:
            agg.comps[(d, dim, key)] = Composition(
                Counter(cs["behavior"]),
                Counter(cs["group"]),
                Counter(cs["category"]),
                Counter(cs["unjudged_reasons"]),
            )
        agg.pairs = Counter({(d, cb, rb): n for d, cb, rb, n in data.get("pairs") or []})
        agg.pairs_identical = Counter(data.get("pairs_identical") or {})
        agg.pairs_incomplete = Counter(data.get("pairs_incomplete") or {})
        agg.openers = {d: Counter(dict(items)) for d, items in (data.get("openers") or {}).items()}
        agg.openers_pruned = Counter(data.get("openers_pruned") or {})
        for d, kind, key, items in data.get("examples") or []:
            agg.examples[(d, kind, key)] = [(int(h), ex) for h, ex in items][:examples]
        agg.read_stats = {d: dict(f) for d, f in (data.get("read_stats") or {}).items()}
        return agg

    # ------------------------------------------------------------------ views
    def slices(self, dataset: str, dim: str) -> list[tuple[str, Composition]]:
        items = [(k, c) for (d, dm, k), c in self.comps.items() if d == dataset and dm == dim]
        if dim == "turn":
            return sorted(items, key=lambda x: (len(x[0]), x[0]))
        return sorted(items)

    def total(self, dataset: str | None = None) -> Composition:
        """Composition of one dataset, or of all datasets together."""
        out = Composition()
        for d in [dataset] if dataset is not None else self.datasets:
            c = self.comps.get((d, "total", ""))
            if c is not None:
                out.merge(c)
        return out

    def examples_for(self, kind: str, key: str, dataset: str | None = None) -> list[dict[str, Any]]:
        """Up to k examples of (kind, key), over one dataset or all (bottom-k by hash)."""
        merged: list[tuple[int, dict[str, Any]]] = []
        for (d, kd, k), items in self.examples.items():
            if kd == kind and k == key and (dataset is None or d == dataset):
                merged.extend(items)
        merged.sort(key=lambda x: x[0])
        return [ex for _, ex in merged[: self.k]]
