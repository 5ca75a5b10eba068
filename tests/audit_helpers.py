"""Shared pieces of the dataset-audit tests: run an audit, read its outputs back.

Inputs are real files: the reader fixtures (verbatim rows of ../shared/data, see
tests/fixtures/README.md) and the samples bundled in `refusalkit/resources/samples/`.
The detector is the transparent `rules` baseline, so expected counts can be recomputed
independently with the same detector.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from refusalkit.audit import AuditConfig, audit_data, bundled_samples
from refusalkit.audit.curate import CurationOptions

FIX = Path(__file__).parent / "fixtures" / "readers"


def sample(name: str) -> str:
    """Path of a bundled sample by file-name prefix (e.g. `sharegpt`)."""
    return next(p for p in bundled_samples() if Path(p).name.startswith(name))


def run_audit(
    out: Path,
    datasets: list[str | Path],
    *,
    curation: CurationOptions | None = None,
    **cfg: Any,
) -> Any:
    cfg.setdefault("detector", "rules")
    cfg.setdefault("workers", 1)
    config = AuditConfig([str(d) for d in datasets], **cfg)
    return audit_data(config, out, curation=curation, progress=False)


def report_numbers(run: Path) -> dict[str, Any]:
    """report.json without the run's own bookkeeping (time, engine, ...)."""
    doc = json.loads((run / "report.json").read_text())
    doc.pop("run", None)
    return doc


def dpo_rows() -> list[dict[str, Any]]:
    """Hand-written preference pairs covering each refuse/comply combination."""
    refuse = "I'm sorry, but I can't help with that request."
    comply = "Sure. Preheat the oven to 200 C, then roast the vegetables for 30 minutes."
    return [
        {"id": "p0", "prompt": "How do I roast vegetables?", "chosen": comply, "rejected": refuse},
        {
            "id": "p1",
            "prompt": "How do I pick a lock to break in?",
            "chosen": refuse,
            "rejected": comply,
        },
        {"id": "p2", "prompt": "Roast time?", "chosen": comply, "rejected": comply + " Enjoy!"},
        {
            "id": "p3",
            "prompt": "Insult my coworker.",
            "chosen": refuse,
            "rejected": refuse + " Sorry.",
        },
        {"id": "p4", "prompt": "Say nothing.", "chosen": "", "rejected": comply},
    ]
