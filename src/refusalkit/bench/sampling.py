"""Deterministic, category-stratified samples of a prompt set.

Small benchmark runs must still be representative: `--limit 50` on OR-Bench-Hard-1K
should not be fifty "illegal" prompts because they come first in the file. Sampling is
stratified by category (largest-remainder allocation, every category at least one
prompt while the limit allows) and seeded per (seed, dataset, category), so the same
command picks the same prompts on every machine and two runs with the same options can
be compared prompt by prompt. The selected items keep their file order.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from refusalkit.core.errors import ConfigError


def _shuffled(indexes: list[int], seed: int, dataset: str, category: str) -> list[int]:
    out = list(indexes)
    random.Random(f"{seed}:{dataset}:{category}").shuffle(out)
    return out


def allocate(sizes: dict[str, int], limit: int) -> dict[str, int]:
    """Split `limit` over categories in proportion to their sizes (largest remainder).

    Every category gets at least one while `limit` >= the number of categories; with a
    smaller limit the largest categories (ties: by name) get one each.
    """
    total = sum(sizes.values())
    if limit >= total:
        return dict(sizes)
    cats = sorted(sizes, key=lambda c: (-sizes[c], c))
    if limit < len(cats):
        return {c: int(i < limit) for i, c in enumerate(cats)}
    share = {c: 1 + (limit - len(cats)) * (sizes[c] - 1) / (total - len(cats)) for c in cats}
    out = {c: min(sizes[c], int(share[c])) for c in cats}
    left = limit - sum(out.values())
    by_rest = sorted(cats, key=lambda c: (-(share[c] - int(share[c])), -sizes[c], c))
    while left > 0:
        for c in by_rest:
            if left and out[c] < sizes[c]:
                out[c] += 1
                left -= 1
    return out


def stratified_sample(
    items: Sequence[Any],
    *,
    dataset: str,
    limit: int | None = None,
    per_category: int | None = None,
    seed: int = 0,
) -> list[Any]:
    """Items (anything with a `.category`) capped per category, then to `limit` overall."""
    for name, value in (("limit", limit), ("per_category", per_category)):
        if value is not None and value < 1:
            flag = name.replace("_", "-")
            raise ConfigError(f"--{flag} must be at least 1, got {value}", hint=f"--{flag} 10")
    if limit is None and per_category is None:
        return list(items)
    by_cat: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        by_cat.setdefault(str(item.category), []).append(i)
    pools = {c: _shuffled(idx, seed, dataset, c) for c, idx in by_cat.items()}
    if per_category is not None:
        pools = {c: p[:per_category] for c, p in pools.items()}
    if limit is not None:
        quota = allocate({c: len(p) for c, p in pools.items()}, limit)
        pools = {c: p[: quota[c]] for c, p in pools.items()}
    chosen = sorted(i for p in pools.values() for i in p)
    return [items[i] for i in chosen]
