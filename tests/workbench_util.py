"""Shared data for the annotation and web tests: a small dataset full of injection attempts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: Model-written text that must never run or render as markup.
EVIL = (
    "<script>window.__pwned = 1</script>",
    '<img src=x onerror="window.__pwned=2">',
    '"><svg onload="window.__pwned=3">',
    "' onmouseover='window.__pwned=4' x='",
    "[click me](javascript:window.__pwned=5) **bold** <b>bold</b> ![img](http://evil.example/x.png)",
    "</textarea></pre><script>window.__pwned=6</script>",
    "{{ 7*7 }} {% raw %} ${7*7}",
    '<a href="javascript:window.__pwned=7">link</a><iframe src="javascript:window.__pwned=8"></iframe>',
)

#: A model name that tries to break out of an attribute (filters, chart labels).
EVIL_NAME = '"><svg onload="window.__pwned=9">m3'

REFUSALS = (
    "I'm sorry, but I can't help with that request.",
    "I cannot share someone's home address; that would violate their privacy.",
    "As an AI, I can't see images, so I cannot describe the photo.",
)


def rows(n: int = 12) -> list[dict[str, Any]]:
    """`n` prompt/response rows; every prompt and response carries an injection payload."""
    out = []
    for i in range(n):
        evil = EVIL[i % len(EVIL)]
        response = REFUSALS[i % len(REFUSALS)] if i % 2 else f"Sure! Here is the answer {i}."
        if i == 3:
            response += " " + "long text " * 400  # over the preview limit: collapsible
        out.append(
            {
                "id": f"item-{i}",
                "prompt": f"Question {i}: {evil}",
                "response": f"{response} {EVIL[(i + 3) % len(EVIL)]}",
            }
        )
    return out


def write_dataset(path: Path, n: int = 12) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows(n)), encoding="utf-8")
    return path


def make_project(
    folder: Path,
    *,
    scheme: str = "taxonomy",
    annotators: tuple[str, ...] = ("alice", "bob"),
    overlap: int = 2,
    shared: int = 0,
    n: int = 12,
) -> Any:
    from refusalkit.annotate import Project

    data = write_dataset(folder.parent / f"{folder.name}-data.jsonl", n)
    project = Project.create(folder, data, scheme=scheme, overlap=overlap, shared=shared)
    for a in annotators:
        project.add_annotator(a)
    return project


def make_runs(root: Path, rows_per_run: int = 240) -> dict[str, Path]:
    """Three small run folders, one per kind, written with `reports.results`."""
    import random

    from refusalkit.reports.results import ResultsWriter, new_run_info, write_run_json

    rng = random.Random(7)
    cats = ("privacy", "modalities", "no_reason", "legal_compliance")
    kinds = {
        "audits/data1": (
            "audit-data",
            {"dataset": "string", "prompt": "string", "response": "string", "distinct": "bool"},
        ),
        "models/probe1": (
            "audit-model",
            {
                "model": "string",
                "endpoint": "string",
                "probe_category": "string",
                "expected": "string",
                "prompt": "string",
                "response": "string",
            },
        ),
        "bench1": (
            "bench",
            {
                "model": "string",
                "dataset": "string",
                "expected": "string",
                "prompt": "string",
                "response": "string",
            },
        ),
    }
    out = {}
    for key, (kind, extra) in kinds.items():
        folder = root / key
        with ResultsWriter(
            folder / "results.parquet", extra, meta={"kind": kind}, row_group_rows=64
        ) as w:
            for i in range(rows_per_run):
                b = ("full_compliance", "full_refusal", "partial_refusal", "unjudged")[
                    rng.randrange(4)
                ]
                cat = {"full_compliance": "not_refusal", "unjudged": None}.get(b, rng.choice(cats))
                group = {
                    "privacy": "should_not",
                    "legal_compliance": "should_not",
                    "modalities": "cannot",
                }.get(cat or "", "none")
                row: dict[str, Any] = {
                    "id": f"{key}:{i}",
                    "behavior": b,
                    "category": cat,
                    "group": group,
                    "refusal_score": None if b == "unjudged" else 0.5,
                    "unjudged_reason": "provider error" if b == "unjudged" else None,
                    "category_scores": '{"privacy": 0.7, "modalities": 0.2}' if cat else None,
                    "prompt": f"prompt {i} {EVIL[i % len(EVIL)]}",
                    "response": f"response {i} {EVIL[(i + 1) % len(EVIL)]}",
                }
                if "dataset" in extra:
                    row["dataset"] = ("alpaca", "sharegpt")[i % 2]
                if "model" in extra:
                    row["model"] = (
                        ("model-a", "model-b")[i % 2]
                        if kind != "bench"
                        else ("m1", "m2", EVIL_NAME)[i % 3]
                    )
                if "endpoint" in extra:
                    row["endpoint"] = "local"
                if "probe_category" in extra:
                    row["probe_category"] = cats[i % 4]
                if "expected" in extra:
                    row["expected"] = ("refuse", "comply")[(i // 2) % 2]
                if "distinct" in extra:
                    row["distinct"] = i % 10 != 0
                w.write(row)
        write_run_json(folder, new_run_info(kind, detector={"name": "rules", "version": "1"}))
        out[key] = folder
    (root / "audits" / "data1" / "report.html").write_text("<!doctype html><h1>saved report</h1>")
    (root / "audits" / "data1" / "report.json").write_text(
        '{"title": "Audit <b>x</b>", "kind": "audit-data"}'
    )
    return out
