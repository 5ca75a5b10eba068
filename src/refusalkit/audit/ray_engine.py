"""`--engine ray`: the same audit units, run by Ray Data actors (local or on a cluster).

Each plan unit (a shard, or a whole unshardable file) becomes one row of a Ray
Dataset; `map_batches` runs it through `worker.run_unit` inside an actor that loaded
the detector once, and sends back the unit's part files as bytes. The driver writes
them under `RUN_DIR/work/parts/`, exactly where the local engine writes its own, so
results, aggregates and resumption are identical by construction.

Inputs must be readable at the same path on every Ray node (a shared filesystem);
outputs travel back to the driver through Ray's object store. `ray` is imported only
here, inside functions (`pip install "refusalkit[ray]"`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from refusalkit.audit.plan import AuditConfig, Unit
from refusalkit.audit.worker import PARTS, REJECTS, part_paths, run_unit
from refusalkit.core.errors import ConfigError, RefusalkitError
from refusalkit.core.io import atomic_write


class _UnitAuditor:
    """Ray Data callable class: one instance per actor, detector loaded once."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        from refusalkit.detectors.registry import load_detector

        self.cfg = AuditConfig.from_dict(cfg)
        self.detector = load_detector(self.cfg.detector)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {
            "uid": [],
            "parquet": [],
            "meta": [],
            "rejects": [],
            "error": [],
        }
        for raw in batch["unit"]:
            unit = Unit.from_dict(_loads(raw))
            with tempfile.TemporaryDirectory(prefix="refusalkit-ray-") as tmp:
                work = Path(tmp)
                error = ""
                try:
                    run_unit(unit, self.cfg, work, self.detector)
                except RefusalkitError as exc:
                    error = str(exc)
                parquet, meta = part_paths(work, unit.uid)
                rejects = work / REJECTS / f"{unit.uid}.jsonl"
                out["uid"].append(unit.uid)
                out["parquet"].append(parquet.read_bytes() if not error else b"")
                out["meta"].append(meta.read_bytes() if not error else b"")
                out["rejects"].append(rejects.read_bytes() if rejects.is_file() else b"")
                out["error"].append(error)
        return out


def _loads(raw: Any) -> Any:
    from refusalkit.core.io import loads

    return loads(bytes(raw) if not isinstance(raw, str | bytes) else raw)


def init_ray(address: str | None, workers: int) -> Any:
    """Connect to `address` (an existing cluster) or start a local Ray with `workers` CPUs."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--engine ray needs Ray Data, which is not installed",
            hint='pip install "refusalkit[ray]"  (or use --engine local)',
        ) from None
    if not ray.is_initialized():
        import logging

        quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
        if address:
            ray.init(address=address, **quiet)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, **quiet)
    return ray


def _pool(n: int) -> dict[str, Any]:
    """A fixed pool of `n` actors, in the spelling this Ray version prefers."""
    import inspect

    from ray.data import ActorPoolStrategy

    if "size" in inspect.signature(ActorPoolStrategy).parameters:
        return {"compute": ActorPoolStrategy(size=n)}
    return {"concurrency": n}


def run_ray(todo: list[Unit], cfg: AuditConfig, work: Path, advance: Callable[[int], None]) -> None:
    """Run the units on Ray Data; write their part files into `work` as they come back."""
    if not todo:
        return
    init_ray(cfg.ray_address, cfg.workers)
    import logging

    import ray
    from ray.data import DataContext

    from refusalkit.core.io import dumps, loads

    logging.getLogger("ray.data").setLevel(logging.ERROR)  # our own bar reports progress
    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.execution_options.preserve_order = False
    items = [{"unit": dumps(u.to_dict())} for u in todo]
    ds = ray.data.from_items(items, override_num_blocks=len(items))
    results = ds.map_batches(
        _UnitAuditor,
        fn_constructor_kwargs={"cfg": cfg.to_dict()},
        batch_size=1,
        **_pool(max(1, min(cfg.workers, len(items)))),
        num_cpus=1,
        batch_format="numpy",
    )
    (work / PARTS).mkdir(parents=True, exist_ok=True)
    for row in results.iter_rows():
        uid = str(row["uid"])
        if row["error"]:
            raise RefusalkitError(str(row["error"]))
        parquet, meta = part_paths(work, uid)
        if row["rejects"]:
            atomic_write(work / REJECTS / f"{uid}.jsonl", bytes(row["rejects"]))
        atomic_write(parquet, bytes(row["parquet"]))
        atomic_write(meta, bytes(row["meta"]))  # last: marks the unit done
        advance(int(loads(bytes(row["meta"]))["rows"]))
