"""`audit_data`: the whole dataset audit — engine, run.json, report, optional curation.

This is what `refusalkit audit data` calls, and the Python entry point:

    from refusalkit.audit import AuditConfig, audit_data
    result = audit_data(AuditConfig(["sharegpt.jsonl.gz"], detector="rules"), "my-audit")
    print(result.agg.total().refusal_rate())
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refusalkit.audit.aggregate import Aggregate
from refusalkit.audit.curate import CurationOptions, curate_run
from refusalkit.audit.engine import run_audit
from refusalkit.audit.plan import AuditConfig
from refusalkit.audit.report import build_report
from refusalkit.core.paths import resource_path
from refusalkit.reports import write_report
from refusalkit.reports.results import (
    RESULTS,
    input_fingerprint,
    new_run_info,
    read_run_json,
    write_run_json,
)

DEFAULT_ROOT = "refusalkit-audit"
SAMPLE_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".csv", ".parquet")


def bundled_samples() -> list[str]:
    """The small sample datasets shipped in `refusalkit/resources/samples/`."""
    folder = resource_path("samples")
    return sorted(
        str(p) for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(SAMPLE_SUFFIXES)
    )


def default_run_dir(datasets: list[str], bundled: bool) -> Path:
    """`./refusalkit-audit/<name>`: `samples`, the dataset's stem, or `<first>+N`."""
    if bundled:
        return Path(DEFAULT_ROOT) / "samples"
    from refusalkit.audit.plan import dataset_names

    first = dataset_names(datasets[:1])[0].replace("/", "_")
    return Path(DEFAULT_ROOT) / (first if len(datasets) == 1 else f"{first}+{len(datasets) - 1}")


@dataclass
class AuditResult:
    out_dir: Path
    agg: Aggregate
    info: dict[str, Any]
    report_paths: dict[str, Path]
    manifest: dict[str, Any] | None = None
    resumed_units: int = 0
    already_complete: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def audit_data(
    cfg: AuditConfig,
    out_dir: str | os.PathLike[str],
    *,
    curation: CurationOptions | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    log: Any = None,
    command: list[str] | None = None,
) -> AuditResult:
    """Audit, write run.json and the report, then curate when filters are given."""
    out = Path(out_dir)
    outcome = run_audit(cfg, out, overwrite=overwrite, progress=progress, log=log)
    agg = outcome.agg
    previous = (
        read_run_json(out) if outcome.already_complete and (out / "run.json").is_file() else {}
    )
    timing = previous.get("timing") or {
        "wall_s": round(outcome.wall_s, 3),
        "rows": outcome.rows,
        "exchanges": outcome.exchanges,
        "exchanges_per_s": round(outcome.exchanges / outcome.wall_s, 1) if outcome.wall_s else None,
        "units": outcome.units_total,
        "units_resumed": outcome.units_resumed,
        **outcome.phases,
    }
    info = new_run_info(
        "audit-data",
        command=command,
        detector=outcome.detector,
        engine=cfg.engine,
        workers=cfg.workers,
        inputs=[
            {"name": n, **input_fingerprint(p)}
            for n, p in zip(cfg.names, cfg.datasets, strict=True)
        ],
        config=cfg.to_dict(),
        timing=timing,
        read_stats=agg.read_stats,
        rejects_path=outcome.rejects_path,
    )
    if previous.get("created"):
        info["created"] = previous["created"]
    info["outputs"] = {"results": RESULTS, "report": ["report.html", "report.md", "report.json"]}
    write_run_json(out, info)
    paths = write_report(build_report(agg, info), out)
    manifest = None
    if curation is not None and curation.active:
        manifest = curate_run(out, curation)
        info["outputs"]["curated"] = "curated/"
        info["curation"] = curation.to_dict()
        write_run_json(out, info)
    return AuditResult(
        out, agg, info, paths, manifest, outcome.units_resumed, outcome.already_complete
    )
