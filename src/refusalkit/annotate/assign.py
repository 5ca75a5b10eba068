"""Deterministic assignment of items to annotators, with a configurable overlap.

Each item is labelled by `overlap` annotators (all of them when there are fewer), and the
first `shared` items of the project order by every annotator, so a big project can keep
most items single-labelled and still measure agreement on a common subset (the pattern of
the refusal-composition paper: 8,600 labels, 500 of them by several people).

*Who* gets an item is decided by rendezvous (highest-random-weight) hashing of
`(seed, item id, annotator)`: the result depends only on the project seed, the item and
the set of annotators (never on timing or arrival order), load is balanced in expectation,
and when an annotator joins only the items they take over move. Work already done is
sticky: an annotator who labelled (or skipped) an item keeps it, and counts towards its
overlap, so a reassignment never discards or duplicates labels.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence


def item_order_key(seed: str, item_id: str) -> bytes:
    """The project order of an item: a seeded hash, so neighbours in the file get mixed."""
    return hashlib.blake2b(f"{seed}\x00{item_id}".encode(), digest_size=8).digest()


def _weight(seed: str, item_id: str, annotator: str) -> bytes:
    return hashlib.blake2b(f"{seed}\x00{item_id}\x00{annotator}".encode(), digest_size=8).digest()


def assignees(
    seed: str,
    item_id: str,
    annotators: Sequence[str],
    k: int,
    done_by: Iterable[str] = (),
) -> list[str]:
    """The annotators of one item: those who already worked on it, then the top-k by hash."""
    chosen = [a for a in annotators if a in set(done_by)]
    need = k - len(chosen)
    if need > 0:
        rest = [a for a in annotators if a not in chosen]
        rest.sort(key=lambda a: _weight(seed, item_id, a), reverse=True)
        chosen += rest[:need]
    return chosen


def plan(
    seed: str,
    items: Sequence[tuple[int, str]],
    annotators: Sequence[str],
    overlap: int,
    shared: int,
    done: Mapping[int, set[str]],
) -> dict[str, list[int]]:
    """Queues per annotator: item positions in project order (shared items first).

    `items` are `(pos, id)` pairs in project order; `done[pos]` the annotators who already
    labelled or skipped that item.
    """
    queues: dict[str, list[int]] = {a: [] for a in annotators}
    if not annotators:
        return queues
    k = max(1, overlap)
    for rank, (pos, item_id) in enumerate(items):
        want = len(annotators) if rank < shared else min(k, len(annotators))
        for a in assignees(seed, item_id, annotators, want, done.get(pos, ())):
            queues[a].append(pos)
    return queues
