#!/usr/bin/env python
"""End-to-end classify throughput (read -> classify -> write) vs a plain string-match pass.

    python benchmarks/bench_classify.py [--data ../shared/data] [--repeat 3] [--json]

For each dataset (the ShareGPT sample, gzipped JSONL, ~19k assistant turns; Alpaca 5k,
JSON array) and each pass, the same reader (`refusalkit.readers`), the same output
record (`detectors.runner.output_record`) and the same writer (`core.io.JsonlWriter`)
are used; only the judgement differs:

* `string-match`: lower-cased substring test against a refusal phrase list, one process
  (what the XSTest authors' string-match classifier does);
* `rules`, `default`: `detectors.runner.classify_stream` as `refusalkit classify` runs it
  (batches, forked workers on every core).

Reports rows/s (best of --repeat runs, and the median), the ratio to string-match, and
rows per CPU-second (parent + workers), which does not depend on what else the machine
is running.
Targets (issue 3): default >= 5,000 responses/s and >= 1/3 of string-match's rate.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from refusalkit.core.io import JsonlWriter
from refusalkit.core.models import Behavior, Exchange, Group, Verdict
from refusalkit.detectors.registry import load_detector
from refusalkit.detectors.runner import classify_stream, output_record
from refusalkit.readers import read_exchanges

PHRASES = (
    "i'm sorry",
    "i am sorry",
    "i apologize",
    "as an ai",
    "as a language model",
    "i cannot",
    "i can't",
    "i can not",
    "i am unable",
    "i'm unable",
    "i am not able",
    "i'm not able",
    "i will not",
    "i won't",
    "unfortunately, i",
)
DATASETS = {
    "sharegpt": "ift/sharegpt/sharegpt_v3_unfiltered_cleaned_split_sample5000.jsonl.gz",
    "alpaca": "ift/alpaca/alpaca_data_5000_subset.json",
}


def string_match(exchanges: Iterator[Exchange]) -> Iterator[tuple[Exchange, Verdict]]:
    for ex in exchanges:
        low = ex.response.lower()
        hit = any(p in low for p in PHRASES)
        yield (
            ex,
            Verdict(
                behavior=Behavior.FULL_REFUSAL if hit else Behavior.FULL_COMPLIANCE,
                refusal_score=1.0 if hit else 0.0,
                category="no_reason" if hit else "not_refusal",
                category_scores={"not_refusal": 0.0 if hit else 1.0},
                group=Group.NONE,
                detector="string-match",
                detector_version="1",
            ),
        )


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def one_pass(path: Path, name: str, out: Path) -> tuple[int, float, float]:
    """(exchanges, wall seconds, CPU seconds incl. worker processes)."""
    c0 = _cpu()
    t0 = time.perf_counter()
    n = 0
    with read_exchanges(path) as stream, JsonlWriter(out) as writer:
        if name == "string-match":
            pairs = string_match(iter(stream))
        else:
            pairs = classify_stream(stream, load_detector(name))
        for ex, v in pairs:
            writer.write(output_record(ex, v))
            n += 1
    return n, time.perf_counter() - t0, _cpu() - c0


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    default_data = (
        Path("../shared/data") if Path("../shared/data").exists() else Path("/work/shared/data")
    )
    ap.add_argument("--data", type=Path, default=default_data)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--passes", default="string-match,rules,default")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    load_detector("default")  # load once, outside the timings (workers fork from it)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for ds, rel in DATASETS.items():
            path = args.data / rel
            if not path.exists():
                print(f"skip {ds}: {path} not found", file=sys.stderr)
                continue
            base = None
            for name in args.passes.split(","):
                rates, cpu_rates = [], []
                for _ in range(args.repeat):
                    n, secs, cpu = one_pass(path, name, Path(tmp) / "out.jsonl")
                    rates.append(n / secs)
                    cpu_rates.append(n / cpu if cpu > 0 else float("nan"))
                row = {
                    "dataset": ds,
                    "pass": name,
                    "exchanges": n,
                    "best_per_s": round(max(rates)),
                    "median_per_s": round(statistics.median(rates)),
                    "per_cpu_s": round(max(cpu_rates)),
                }
                if name == "string-match":
                    base = max(rates)
                if base:
                    row["ratio_to_string_match"] = round(max(rates) / base, 3)
                results.append(row)
                if not args.json:
                    print(json.dumps(row), file=sys.stderr)
    meta = {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "load_avg": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    if args.json:
        print(json.dumps({"results": results, "machine": meta}, indent=2))
        return
    print(
        "| dataset | pass | exchanges | best rows/s | median rows/s | vs string-match | rows per CPU-s |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['dataset']} | {r['pass']} | {r['exchanges']:,} | {r['best_per_s']:,} | "
            f"{r['median_per_s']:,} | {r.get('ratio_to_string_match', '')} | {r['per_cpu_s']:,} |"
        )
    print(f"\nmachine: {meta}")


if __name__ == "__main__":
    main()
