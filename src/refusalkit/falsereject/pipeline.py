"""`falsereject run`: every stage in order, in one run folder, resumable as a whole.

    DIR/run.json                the settings of the run
    DIR/graph.json              stage 1 (+ graph.extract.jsonl, the per-seed records)
    DIR/generated.jsonl         stage 2
    DIR/validated.jsonl         stage 3
    DIR/orchestrated.jsonl      stage 4
    DIR/responses.jsonl         stage 5
    DIR/export/                 stage 6 (falsereject.jsonl, sft_*.jsonl, stats.json, ...)
    DIR/summary.json            per-stage summaries and the yields per stage and category

Each stage gets its own `LLMClient` (one response log for all of them), so its summary
counts its own calls. Rerunning the same command resumes every stage where it stopped.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from refusalkit._version import __version__
from refusalkit.core.io import atomic_write, dumps_pretty
from refusalkit.falsereject.config import PipelineConfig
from refusalkit.falsereject.extract import extractions_path
from refusalkit.falsereject.stages import STAGES, read_records

FILES = {
    "graph": "graph.json",
    "generate": "generated.jsonl",
    "validate": "validated.jsonl",
    "orchestrate": "orchestrated.jsonl",
    "respond": "responses.jsonl",
    "export": "export",
}
#: yield columns: (name, stage, statuses that count)
YIELD_STEPS = (
    ("generated", "generate", None),
    ("accepted", "generate", ("accepted",)),
    ("refused_by_pool", "validate", ("kept",)),
    ("passed_orchestrator", "orchestrate", ("passed",)),
    ("responded", "respond", ("ok",)),
)


def stage_paths(out_dir: str | Path) -> dict[str, Path]:
    return {k: Path(out_dir) / v for k, v in FILES.items()}


def compute_yields(
    paths: dict[str, Path], exported: dict[str, int] | None = None
) -> dict[str, Any]:
    """Items per step (generated -> accepted -> refused by the pool -> passed the
    orchestrator -> responded -> exported), in total and per category, plus failures."""
    total: Counter[str] = Counter()
    per_cat: defaultdict[str, Counter[str]] = defaultdict(Counter)
    failures: dict[str, dict[str, int]] = {}
    extractions = extractions_path(paths["graph"])
    if extractions.exists():
        seeds = Counter(r["extract"].get("status") for r in read_records(extractions).values())
        failures["graph"] = {k: v for k, v in seeds.items() if k in ("failed", "error")}
    for name, stage, ok in YIELD_STEPS:
        block = STAGES[stage][0]
        records = read_records(paths[stage]) if paths[stage].exists() else {}
        bad: Counter[str] = Counter()
        for rec in records.values():
            status = rec[block].get("status")
            if status in ("failed", "error"):
                bad[status] += 1
            if (ok is None and status != "error") or (ok is not None and status in ok):
                total[name] += 1
                per_cat[str(rec.get("category"))][name] += 1
        if ok is None or stage != "generate":
            failures[stage] = dict(bad)
    if exported is not None:
        total["exported"] = sum(exported.values())
        for cat, count in exported.items():
            per_cat[cat]["exported"] = count
    steps = [s for s, _, _ in YIELD_STEPS] + (["exported"] if exported is not None else [])
    return {
        "steps": steps,
        "total": {s: total.get(s, 0) for s in steps},
        "per_category": {c: {s: v.get(s, 0) for s in steps} for c, v in sorted(per_cat.items())},
        "failures": failures,
    }


async def run_pipeline(
    seeds: Sequence[Any],
    out_dir: str | Path,
    config: PipelineConfig,
    *,
    categories: Sequence[Any] | None,
    n: int,
    log: str | Path | None = None,
    endpoints: Sequence[Any] | None = None,
    overwrite: bool = False,
    dedup_backend: str | None = "auto",
    dedup_threshold: float | None = None,
    arguments: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """All six stages; returns (and writes to summary.json) their summaries and the yields.

    `endpoints`: `Endpoint`s (or names) every stage's client pre-loads; the first is the
    default for roles without their own endpoint.
    """
    from refusalkit.falsereject.export import export_dataset
    from refusalkit.falsereject.extract import extract_graph
    from refusalkit.falsereject.generate import generate_prompts
    from refusalkit.falsereject.orchestrate import orchestrate_prompts
    from refusalkit.falsereject.pool import validate_prompts
    from refusalkit.falsereject.respond import respond_prompts
    from refusalkit.llm.client import LLMClient

    started = time.monotonic()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = stage_paths(out_dir)
    atomic_write(
        out_dir / "run.json",
        dumps_pretty(
            {
                "kind": "falsereject",
                "refusalkit": __version__,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "arguments": arguments or {},
                "config": config.to_dict(),
                "n": n,
                "categories": [getattr(c, "id", c) for c in categories or ()],
                "seeds": len(seeds),
            }
        ),
    )
    summaries: dict[str, Any] = {}

    def client() -> LLMClient:
        return LLMClient(list(endpoints) if endpoints else None, log=Path(log) if log else None)

    async with client() as c:
        graph, s = await extract_graph(seeds, paths["graph"], config, c, overwrite=overwrite)
    summaries["graph"] = s.to_dict()
    async with client() as c:
        s = await generate_prompts(
            graph, paths["generate"], config, c, categories=categories, n=n, overwrite=overwrite
        )
    summaries["generate"] = s.to_dict()
    for stage, fn, src in (
        ("validate", validate_prompts, "generate"),
        ("orchestrate", orchestrate_prompts, "validate"),
        ("respond", respond_prompts, "orchestrate"),
    ):
        async with client() as c:
            s = await fn(paths[src], paths[stage], config, c, overwrite=overwrite)
        summaries[stage] = s.to_dict()
    exported = export_dataset(
        paths["respond"], paths["export"], backend=dedup_backend, threshold=dedup_threshold
    )
    yields = compute_yields(paths, exported["per_category"])
    exported["yields"] = yields
    atomic_write(paths["export"] / "stats.json", dumps_pretty(exported) + "\n")
    summaries["export"] = {
        k: exported[k] for k in ("items", "exported", "duplicates", "dedup", "diversity")
    }
    result = {
        "out_dir": str(out_dir),
        "stages": summaries,
        "yields": yields,
        "seconds": round(time.monotonic() - started, 3),
    }
    atomic_write(out_dir / "summary.json", dumps_pretty(result) + "\n")
    return result
