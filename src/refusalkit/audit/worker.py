"""Audit one unit of work: classify its exchanges, write its results part and aggregate.

The same `run_unit` runs in the parent (`--workers 1`), in a process-pool worker and in
a Ray actor, so every engine produces the same part files. A unit's outputs appear
atomically and in this order — `parts/<uid>.parquet`, then `parts/<uid>.json` — and a
unit counts as done only when its JSON exists, so a crash at any point leaves either
a finished unit or nothing that a resumed run would trust.

The detector is loaded once per process (`worker_init`) and reused for every unit.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from refusalkit.audit.aggregate import AUDIT_COLUMNS, Aggregate
from refusalkit.audit.plan import AuditConfig, Unit
from refusalkit.core.errors import RefusalkitError
from refusalkit.core.io import atomic_write, dumps, loads
from refusalkit.core.models import Exchange, Message, Source, Verdict
from refusalkit.detectors.base import Detector
from refusalkit.reports.results import ResultsWriter, result_row

PARTS = "parts"
REJECTS = "rejects"


def part_paths(work: Path, uid: str) -> tuple[Path, Path]:
    return work / PARTS / f"{uid}.parquet", work / PARTS / f"{uid}.json"


def _checked(v: Verdict, detector: Detector) -> Verdict:
    """A verdict breaking the model invariants becomes unjudged: a failure is no verdict."""
    try:
        return v.validate()
    except ValueError as exc:
        return Verdict.unjudged(
            f"invalid verdict from the detector: {exc}",
            detector=v.detector or detector.name,
            detector_version=v.detector_version or detector.version,
        )


def audit_exchanges(
    exchanges: Iterable[Exchange],
    *,
    dataset: str,
    detector: Detector,
    batch_size: int,
    sink: Callable[[dict[str, Any]], None],
    tick: Callable[[], None] | None = None,
) -> int:
    """Classify `exchanges` in batches and pass one results row per exchange to `sink`."""
    n = 0
    batch: list[Exchange] = []

    def judge() -> None:
        verdicts = detector.predict(batch)
        if len(verdicts) != len(batch):
            raise RuntimeError(
                f"detector {detector.name!r} returned {len(verdicts)} verdicts for {len(batch)} exchanges"
            )
        for ex, v in zip(batch, verdicts, strict=True):
            md = ex.metadata
            sink(
                result_row(
                    ex,
                    _checked(v, detector),
                    dataset=dataset,
                    turn_final=bool(md.get("_turn_final", True)),
                    distinct=not (
                        ex.source.side == "rejected" and md.get("_same_across_sides") is True
                    ),
                    prompt=ex.prompt,
                    response=ex.response,
                )
            )
        if tick is not None:
            tick()

    for ex in exchanges:
        batch.append(ex)
        if len(batch) >= batch_size:
            judge()
            n += len(batch)
            batch = []
    if batch:
        judge()
        n += len(batch)
    return n


def run_unit(
    unit: Unit,
    cfg: AuditConfig,
    work: Path,
    detector: Detector,
    exchanges: list[Exchange] | None = None,
    on_rows: Callable[[int], None] | None = None,
    rows: int = 0,
) -> dict[str, Any]:
    """Audit one unit; write its part files; return `{"uid", "rows", "exchanges"}`.

    Shard and whole-file units read their input here; streamed batches arrive as
    `exchanges` (with `rows`, the number of source rows they cover).
    """
    from refusalkit.readers import read_exchanges

    name = cfg.names[unit.dataset]
    parquet, meta = part_paths(work, unit.uid)
    agg = Aggregate(cfg.examples)
    writer = ResultsWriter(parquet, AUDIT_COLUMNS, meta={"kind": "audit-data"})

    def sink(row: dict[str, Any]) -> None:
        writer.write(row)
        agg.add(row)

    try:
        if exchanges is None:
            assert unit.shard is not None
            kwargs = cfg.reader_kwargs()
            rejects = work / REJECTS / f"{unit.uid}.jsonl"
            with read_exchanges(unit.shard, rejects_path=rejects, **kwargs) as stream:
                seen = [0]

                def tick() -> None:
                    now = stream.stats.rows
                    if on_rows is not None and now > seen[0]:
                        on_rows(now - seen[0])
                    seen[0] = now

                n = audit_exchanges(
                    stream,
                    dataset=name,
                    detector=detector,
                    batch_size=cfg.batch_size,
                    sink=sink,
                    tick=tick,
                )
                tick()
            rows = stream.stats.rows
            agg.add_read_stats(name, [fs.to_dict() for fs in stream.stats.files.values()])
        else:
            n = audit_exchanges(
                exchanges, dataset=name, detector=detector, batch_size=cfg.batch_size, sink=sink
            )
            if on_rows is not None:
                on_rows(rows)
        agg.finish()
    except BaseException:
        writer.abort()
        raise
    writer.close()
    summary = {"uid": unit.uid, "rows": rows, "exchanges": n}
    atomic_write(meta, dumps({**summary, "agg": agg.to_json()}))
    return summary


def load_unit(work: Path, uid: str, examples: int) -> tuple[dict[str, Any], Aggregate]:
    _, meta = part_paths(work, uid)
    data = loads(meta.read_bytes())
    return data, Aggregate.from_json(data["agg"], examples)


def is_done(work: Path, uid: str) -> bool:
    parquet, meta = part_paths(work, uid)
    return meta.is_file() and parquet.is_file()


# ------------------------------------------------------------------ process-pool side

_STATE: dict[str, Any] = {}


def worker_init(cfg: dict[str, Any], work: str, queue: Any) -> None:
    """Pool initializer: load the detector once; leave Ctrl-C to the parent."""
    from refusalkit.detectors.registry import load_detector

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    config = AuditConfig.from_dict(cfg)
    _STATE.update(cfg=config, work=Path(work), queue=queue, detector=load_detector(config.detector))


def _report(n: int) -> None:
    q = _STATE.get("queue")
    if q is not None and n:
        q.put(n)


def _guard(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """User errors cross the process boundary as data (exceptions lose their hint)."""
    try:
        return fn()
    except RefusalkitError as exc:
        return {"error": exc.message, "hint": exc.hint}


def pool_run_shard(unit: dict[str, Any]) -> dict[str, Any]:
    u = Unit.from_dict(unit)
    return _guard(
        lambda: run_unit(u, _STATE["cfg"], _STATE["work"], _STATE["detector"], on_rows=_report)
    )


def pack(exchanges: list[Exchange]) -> list[tuple[Any, ...]]:
    """Exchanges as plain tuples for the trip to a worker: pickling tuples costs a third
    of pickling dataclasses, and shared strings (a conversation's earlier turns) are still
    sent once per batch thanks to pickle's memo."""
    return [
        (
            e.id, e.prompt, e.response, [(m.role, m.content) for m in e.context], e.system,
            (e.source.file, e.source.row, e.source.line, e.source.turn, e.source.side), e.metadata,
        )
        for e in exchanges
    ]  # fmt: skip


def unpack(packed: list[tuple[Any, ...]]) -> list[Exchange]:
    return [
        Exchange(i, p, r, tuple(Message(role, c) for role, c in ctx), s, Source(*src), md)
        for i, p, r, ctx, s, src, md in packed
    ]


def pool_run_batch(
    uid: str, dataset: int, packed: list[tuple[Any, ...]], rows: int
) -> dict[str, Any]:
    u = Unit(uid, dataset, "batch")
    return _guard(
        lambda: run_unit(
            u, _STATE["cfg"], _STATE["work"], _STATE["detector"], unpack(packed), _report, rows
        )
    )
