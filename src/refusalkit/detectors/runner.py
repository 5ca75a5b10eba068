"""Classify a stream of exchanges in batches, on every core, in input order.

Why a runner: the learned and rules detectors are CPU-bound and vectorised per batch, so
a big file is cut into batches that worker processes score while the parent reads the
input and writes the output. Workers are forked after the detector is loaded, so they
share its weights and start instantly. Detectors that wait on the network (LLM judges)
run in-process: their own client batches and rate-limits requests.

`output_record` is the `refusalkit classify` JSONL contract: the input's id and fields
plus the verdict.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from typing import Any

import numpy as np

from refusalkit.core.models import Exchange, Verdict
from refusalkit.detectors.base import Detector

#: Detector kinds that are pure CPU work and safe to run in forked workers.
PARALLEL_KINDS = ("learned", "rules")
VERDICT_KEYS = (
    "behavior",
    "refusal_score",
    "category",
    "category_scores",
    "group",
    "detector",
    "detector_version",
    "rationale",
    "unjudged_reason",
)

_WORKER_DETECTOR: Detector | None = None
#: Rows scored in the parent before the workers are forked (warms the detector).
WARM_ROWS = 128


def _score_batch(batch: tuple[list[str], list[str]]) -> Any:
    det = _WORKER_DETECTOR
    assert det is not None
    responses, prompts = batch
    exchanges = [
        Exchange(id="", prompt=p, response=r) for r, p in zip(responses, prompts, strict=True)
    ]
    if det.kind == "learned":
        r, q, pc = det.scores(exchanges)  # type: ignore[attr-defined]
        return (r, q, pc.astype(np.float32))
    return det.predict(exchanges)


def _to_verdicts(det: Detector, result: Any) -> list[Verdict]:
    if isinstance(result, tuple):
        return det.verdicts(*result)  # type: ignore[attr-defined]
    return result


def default_workers() -> int:
    """Cores this process may use (respects taskset/cgroup affinity), at most 8."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def classify_stream(
    exchanges: Iterable[Exchange],
    detector: Detector,
    *,
    batch_size: int = 1024,
    workers: int | None = None,
    min_parallel_batches: int = 4,
) -> Iterator[tuple[Exchange, Verdict]]:
    """Yield (exchange, verdict) in input order. `workers=0/1` stays in-process.

    Worker processes only pay off on inputs of several batches (forking and shipping
    text cost a few ms per batch), so the first `min_parallel_batches` batches are read
    ahead and small inputs are scored in-process.
    """
    it = iter(exchanges)
    n_workers = default_workers() if workers is None else workers
    parallel = (
        n_workers > 1 and detector.kind in PARALLEL_KINDS and "fork" in mp.get_all_start_methods()
    )
    ahead: list[list[Exchange]] = []
    if parallel:
        for _ in range(min_parallel_batches):
            b = list(islice(it, batch_size))
            if not b:
                break
            ahead.append(b)
        parallel = len(ahead) == min_parallel_batches and len(ahead[-1]) == batch_size
    if not parallel:
        for b in ahead:
            yield from zip(b, detector.predict(b), strict=True)
        while batch := list(islice(it, batch_size)):
            yield from zip(batch, detector.predict(batch), strict=True)
        return
    # Score a few rows here: useful work that also warms the detector (lazy imports, hash
    # tables) *before* the fork, so workers do not each repeat it. Only a few: whatever is
    # scored here is serial time before the workers start, which a small file feels.
    first = ahead.pop(0)
    warm, rest = first[:WARM_ROWS], first[WARM_ROWS:]
    yield from zip(warm, detector.predict(warm), strict=True)
    global _WORKER_DETECTOR
    _WORKER_DETECTOR = detector  # inherited by the forked workers
    pending: deque[tuple[list[Exchange], Future[Any]]] = deque()
    queued = iter([rest, *ahead] if rest else ahead)
    with ProcessPoolExecutor(max_workers=n_workers, mp_context=mp.get_context("fork")) as pool:
        batch = next(queued, None) or list(islice(it, batch_size))
        while batch or pending:
            while batch and len(pending) < 2 * n_workers:
                payload = ([e.response or "" for e in batch], [e.prompt or "" for e in batch])
                pending.append((batch, pool.submit(_score_batch, payload)))
                batch = next(queued, None) or list(islice(it, batch_size))
            done_batch, fut = pending.popleft()
            yield from zip(done_batch, _to_verdicts(detector, fut.result()), strict=True)


def output_record(ex: Exchange, v: Verdict) -> dict[str, Any]:
    """One `refusalkit classify` output row: input id and fields, then the verdict.

    Input fields that clash with a verdict key (CoCoNot's own `category` column) are kept
    as `input_<name>`, so nothing from the input is lost or silently overwritten.
    """
    rec: dict[str, Any] = {"id": ex.id}
    for k, val in ex.metadata.items():
        rec[
            f"input_{k}" if k in VERDICT_KEYS or k in ("id", "prompt", "response", "source") else k
        ] = val
    rec["prompt"] = ex.prompt
    rec["response"] = ex.response
    src = ex.source
    rec["source"] = {
        "file": src.file,
        "row": src.row,
        "line": src.line,
        "turn": src.turn,
        "side": src.side,
    }
    rec["behavior"] = v.behavior.value
    rec["refusal_score"] = v.refusal_score
    rec["category"] = v.category
    rec["category_scores"] = v.category_scores
    rec["group"] = v.group.value
    rec["detector"] = v.detector
    rec["detector_version"] = v.detector_version
    if v.rationale is not None:
        rec["rationale"] = v.rationale
    if v.unjudged_reason is not None:
        rec["unjudged_reason"] = v.unjudged_reason
    return rec
