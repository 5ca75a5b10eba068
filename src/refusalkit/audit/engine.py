"""Run a dataset audit: plan, resume, fan out over every core (or Ray), assemble the run folder.

Local engine: a process pool (spawned workers, each loading the detector once) works
through the plan's shards; unshardable inputs are either read by the parent and handed
out in batches of whole rows (`stream`) or read whole by one worker. At most two tasks
per worker are in flight, so memory stays bounded whatever the input size. Finished
units are recorded as part files under `RUN_DIR/work/` and skipped when the same
command runs again after a crash or Ctrl-C; the final `results.parquet` is the parts
concatenated in input order, and the aggregate is the sum of the parts' aggregates.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refusalkit.audit.aggregate import AUDIT_COLUMNS, Aggregate
from refusalkit.audit.plan import AuditConfig, Unit, batch_uid, estimate_rows, plan, run_key
from refusalkit.audit.worker import (
    PARTS,
    REJECTS,
    is_done,
    load_unit,
    pack,
    part_paths,
    pool_run_batch,
    pool_run_shard,
    run_unit,
    worker_init,
)
from refusalkit.core.errors import ConfigError, RefusalkitError
from refusalkit.core.io import atomic_write, dumps, dumps_pretty, loads
from refusalkit.core.models import Exchange
from refusalkit.reports.results import RESULTS, ResultsWriter, concat_results

WORK = "work"
PLAN = "plan.json"
DONE = "complete.json"
STREAMS = "streams"


@dataclass
class AuditOutcome:
    """What `run_audit` did: the merged aggregate and the run's bookkeeping."""

    agg: Aggregate
    out_dir: Path
    rows: int = 0
    exchanges: int = 0
    units_total: int = 0
    units_resumed: int = 0
    wall_s: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    detector: dict[str, str] = field(default_factory=dict)
    rejects_path: str | None = None
    already_complete: bool = False


def prepare_run_dir(out_dir: Path, key: dict[str, Any], overwrite: bool) -> dict[str, Any] | None:
    """The stored plan when `out_dir` holds this same audit (resume), else None.

    A folder holding a different audit is an error unless `overwrite`, which clears it.
    """
    work = out_dir / WORK
    plan_file = work / PLAN
    if plan_file.is_file():
        stored = loads(plan_file.read_bytes())
        if stored.get("key") == key and not overwrite:
            return stored
        if not overwrite:
            old = stored.get("key") or {}
            differ = [k for k in key if old.get(k) != key[k]] or ["format version"]
            raise ConfigError(
                f"{out_dir} holds an audit of other inputs or settings "
                f"(different: {', '.join(differ)})",
                hint="pass --overwrite to replace it, or -o to write somewhere else",
            )
    elif (out_dir / RESULTS).exists() and not overwrite:
        raise ConfigError(
            f"{out_dir} already holds results that this audit did not start",
            hint="pass --overwrite to replace them, or -o to write somewhere else",
        )
    if overwrite:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(out_dir / "curated", ignore_errors=True)
        for name in (
            RESULTS,
            "report.html",
            "report.md",
            "report.json",
            "run.json",
            "rejects.jsonl",
        ):
            (out_dir / name).unlink(missing_ok=True)
    return None


def run_audit(
    cfg: AuditConfig,
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> AuditOutcome:
    """Audit `cfg.datasets` into `out_dir` (resuming a matching unfinished run there)."""
    from refusalkit.core.progress import progress as bar
    from refusalkit.detectors.registry import load_detector

    out = Path(out_dir)
    started = time.perf_counter()
    from refusalkit.readers import detect_format

    for path in cfg.datasets:  # a missing or unreadable input fails before anything runs
        detect_format(path, cfg.format)
    detector = load_detector(cfg.detector)  # fail fast, and record what judged
    key = run_key(cfg)
    out.mkdir(parents=True, exist_ok=True)
    stored = prepare_run_dir(out, key, overwrite)
    work = out / WORK
    if stored is None:
        stored = {"key": key, "plan": plan(cfg), "config": cfg.to_dict()}
        atomic_write(work / PLAN, dumps_pretty(stored))
    the_plan = stored["plan"]
    cfg.stream_unit = the_plan["stream_unit"]
    units = [Unit.from_dict(u) for u in the_plan["units"]]
    streams: list[int] = the_plan["streams"]
    outcome = AuditOutcome(
        Aggregate(cfg.examples),
        out,
        detector={
            "spec": cfg.detector,
            "name": detector.name,
            "version": str(detector.version),
            "sha256": key["detector_sha256"],
        },
    )
    complete = (work / DONE).is_file() and (out / RESULTS).is_file()
    if not complete:
        for tmp in (work / PARTS).glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        todo = [u for u in units if not is_done(work, u.uid)]
        outcome.units_resumed = len(units) - len(todo)
        if outcome.units_resumed and log:
            log(f"resuming: {outcome.units_resumed} of {len(units)} shards already done")
        total = estimate_rows(cfg)
        outcome.phases["plan_s"] = round(time.perf_counter() - started, 3)
        with bar(f"audit {len(cfg.datasets)} dataset(s)", total=total, enabled=progress) as advance:
            done_rows = sum(load_unit(work, u.uid, 0)[0]["rows"] for u in units if u not in todo)
            advance(done_rows)
            if cfg.engine == "ray":
                from refusalkit.audit.ray_engine import run_ray

                run_ray(todo, cfg, work, advance)
            else:
                _run_local(todo, streams, cfg, work, detector, advance)
        outcome.phases["classify_s"] = round(
            time.perf_counter() - started - outcome.phases["plan_s"], 3
        )
    merge_start = time.perf_counter()
    outcome.agg, part_files, uids = _collect(cfg, units, streams, work)
    outcome.units_total = len(uids)
    outcome.already_complete = complete
    if not complete:
        if part_files:
            concat_results(part_files, out / RESULTS)
        else:
            ResultsWriter(out / RESULTS, AUDIT_COLUMNS, meta={"kind": "audit-data"}).close()
        outcome.rejects_path = _gather_rejects(cfg, work, uids, out)
        atomic_write(work / DONE, dumps({"rejects_path": outcome.rejects_path}))
        for p in part_files:  # the merged file holds them now; unit JSONs stay for re-runs
            p.unlink(missing_ok=True)
    else:
        outcome.rejects_path = loads((work / DONE).read_bytes()).get("rejects_path")
    totals = outcome.agg.read_stats
    outcome.rows = sum(f.get("rows", 0) for fs in totals.values() for f in fs.values())
    outcome.exchanges = sum(f.get("exchanges", 0) for fs in totals.values() for f in fs.values())
    outcome.wall_s = time.perf_counter() - started
    outcome.phases["merge_s"] = round(time.perf_counter() - merge_start, 3)
    return outcome


def _collect(
    cfg: AuditConfig, units: list[Unit], streams: list[int], work: Path
) -> tuple[Aggregate, list[Path], list[str]]:
    """Merge every unit's aggregate; part files and uids in input order."""
    agg = Aggregate(cfg.examples)
    parts: list[Path] = []
    uids: list[str] = []
    for d, name in enumerate(cfg.names):
        if d in streams:
            info = loads((work / STREAMS / f"{d:03d}.json").read_bytes())
            mine = [batch_uid(d, i) for i in range(info["batches"])]
            agg.add_read_stats(name, info["read_stats"])
        else:
            mine = [u.uid for u in units if u.dataset == d]
        for uid in mine:
            _, part = load_unit(work, uid, cfg.examples)
            agg.merge(part)
            parquet, _ = part_paths(work, uid)
            if parquet.is_file():
                parts.append(parquet)
            uids.append(uid)
    agg.datasets = list(cfg.names)  # input order, including empty datasets
    return agg, parts, uids


def _gather_rejects(cfg: AuditConfig, work: Path, uids: list[str], out: Path) -> str | None:
    """Concatenate the units' reject side files (input order) into one file."""
    files = [work / REJECTS / f"{uid}.jsonl" for uid in uids]
    files += sorted((work / REJECTS).glob("*-stream.jsonl"))
    files = [f for f in files if f.is_file()]
    if not files:
        return None
    target = Path(cfg.rejects) if cfg.rejects else out / "rejects.jsonl"
    tmp = target.with_name(f".{target.name}.tmp")
    with open(tmp, "wb") as dst:
        for f in files:
            with open(f, "rb") as src:
                shutil.copyfileobj(src, dst)
    tmp.replace(target)
    return str(target)


# ---------------------------------------------------------------------- local engine


def _stream_batches(
    cfg: AuditConfig, d: int, work: Path
) -> Iterator[tuple[str, list[Exchange], int]]:
    """(uid, exchanges, rows) batches of a streamed dataset, skipping finished ones.

    Batches end on row boundaries, so both sides of a preference pair stay together;
    the stream's read statistics are saved once it has been read to the end.
    """
    from refusalkit.readers import read_exchanges

    info_path = work / STREAMS / f"{d:03d}.json"
    if info_path.is_file():
        info = loads(info_path.read_bytes())
        if all(is_done(work, batch_uid(d, i)) for i in range(info["batches"])):
            return
    rejects = work / REJECTS / f"{d:03d}-stream.jsonl"
    kwargs = cfg.reader_kwargs()
    index, buf, rows, last = 0, [], 0, None
    with read_exchanges(cfg.datasets[d], limit=cfg.limit, rejects_path=rejects, **kwargs) as stream:
        for ex in stream:
            key = (ex.source.file, ex.source.row)
            if key != last:
                if len(buf) >= cfg.stream_unit:
                    uid = batch_uid(d, index)
                    if not is_done(work, uid):
                        yield uid, buf, rows
                    index, buf, rows = index + 1, [], 0
                rows += 1
                last = key
            buf.append(ex)
        if buf:
            uid = batch_uid(d, index)
            if not is_done(work, uid):
                yield uid, buf, rows
            index += 1
    files = [fs.to_dict() for fs in stream.stats.files.values()]
    info = {"batches": index, "read_stats": files, "truncated": stream.stats.truncated}
    atomic_write(info_path, dumps(info))


def _run_local(
    todo: list[Unit],
    streams: list[int],
    cfg: AuditConfig,
    work: Path,
    detector: Any,
    advance: Callable[[int], None],
) -> None:
    (work / PARTS).mkdir(parents=True, exist_ok=True)
    if cfg.workers <= 1:
        for u in todo:
            run_unit(u, cfg, work, detector, on_rows=advance)
        for d in streams:
            for uid, exs, rows in _stream_batches(cfg, d, work):
                run_unit(Unit(uid, d, "batch"), cfg, work, detector, exs, advance, rows)
        return
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    pool = ProcessPoolExecutor(
        max_workers=cfg.workers,
        mp_context=ctx,
        initializer=worker_init,
        initargs=(cfg.to_dict(), str(work), queue),
    )
    pending: set[Future[dict[str, Any]]] = set()
    finished = False

    def drain() -> None:
        while True:
            try:
                n = queue.get_nowait()
            except Exception:  # queue.Empty
                return
            advance(n)

    def settle(limit: int) -> None:
        while len(pending) > limit:
            done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            drain()
            for fut in done:
                pending.discard(fut)
                res = fut.result()
                if "error" in res:
                    raise RefusalkitError(res["error"], hint=res.get("hint"))

    try:
        cap = cfg.workers * 2
        for u in todo:
            settle(cap - 1)
            pending.add(pool.submit(pool_run_shard, u.to_dict()))
        for d in streams:
            for uid, exs, rows in _stream_batches(cfg, d, work):
                settle(cap - 1)
                drain()
                pending.add(pool.submit(pool_run_batch, uid, d, pack(exs), rows))
        settle(0)
        drain()
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:
            procs = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in procs:  # do not wait for units in flight: they are redone on resume
                proc.terminate()
        queue.close()
