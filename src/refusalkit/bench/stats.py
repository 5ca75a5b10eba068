"""`refusalkit bench stats`: how diverse and how long the prompts of a set are.

The FalseReject paper compares its generated prompts with XSTest, OKTest and OR-Bench by
Self-BLEU (lower = more diverse) and distinct-n (higher = more diverse); this prints the
same numbers for any sets, bundled or user files, with the conventions of
`refusalkit.core.diversity` (shared with the FalseReject export and the synthetic-data
generator, so the numbers agree everywhere). Near-duplicates use the torch-free hashed
backend unless asked otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from refusalkit.reports.document import Table


def text_stats(
    texts: Sequence[str], *, dedup_backend: str | None = "hashed", seed: int = 0
) -> dict[str, Any]:
    """Diversity (`core.diversity.diversity_stats`), near-duplicates and lengths of texts."""
    from refusalkit.core.diversity import deduplicate, diversity_stats, tokenize

    out = diversity_stats(texts, seed=seed)
    if dedup_backend and len(texts) > 1:
        dd = deduplicate(texts, backend=dedup_backend)
        out["near_duplicates"] = int(sum(k == "near" for k in dd.kind))
        out["exact_duplicates"] = int(sum(k == "exact" for k in dd.kind))
        out["dedup_backend"], out["dedup_threshold"] = dd.backend, dd.threshold
    words = np.array([len(tokenize(t)) for t in texts] or [0])
    chars = np.array([len(t) for t in texts] or [0])
    out.update(median_tokens=float(np.median(words)), max_tokens=int(words.max()),
               mean_chars=float(chars.mean()))  # fmt: skip
    return out


def prompt_set_stats(
    specs: Sequence[str],
    *,
    limit: int | None = None,
    seed: int = 0,
    reader_options: dict[str, Any] | None = None,
    dedup_backend: str | None = "hashed",
) -> list[dict[str, Any]]:
    """One row of statistics per dataset spec (set name, file or NAME=PATH)."""
    from refusalkit.bench.datasets import resolve_all
    from refusalkit.bench.sampling import stratified_sample

    rows = []
    for ds in resolve_all(specs):
        items = ds.load(reader_options)
        chosen = stratified_sample(items, dataset=ds.name, limit=limit, seed=seed)
        stats = text_stats([i.prompt for i in chosen], dedup_backend=dedup_backend, seed=seed)
        rows.append({"dataset": ds.name, "role": ds.role, "available": len(items),
                     "categories": len({i.category for i in chosen}), **stats})  # fmt: skip
    return rows


def _n(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and x != x):
        return "–"
    return f"{x:.{digits}f}" if isinstance(x, float) else f"{x:,}"


def stats_table(rows: Sequence[dict[str, Any]]) -> Table:
    return Table(
        columns=[
            "dataset",
            "role",
            "prompts",
            "categories",
            "Self-BLEU ↓",
            "distinct-1",
            "distinct-2 ↑",
            "near-dup",
            "exact dup",
            "mean tokens",
            "median",
            "max",
        ],
        rows=[
            [
                r["dataset"],
                r["role"],
                _n(r["n"]),
                _n(r["categories"]),
                _n(r["self_bleu"]),
                _n(r["distinct_1"]),
                _n(r["distinct_2"]),
                _n(r.get("near_duplicates")),
                _n(r.get("exact_duplicates")),
                _n(r["mean_tokens"], 1),
                _n(r["median_tokens"], 1),
                _n(r["max_tokens"]),
            ]
            for r in rows
        ],
        numeric=tuple(range(2, 12)),
    )
