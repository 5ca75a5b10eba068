#!/usr/bin/env python
"""Benchmark `refusalkit audit data`: throughput, wall time and peak memory, local vs Ray.

    python benchmarks/bench_audit.py                      # everything (about 10 minutes)
    python benchmarks/bench_audit.py --rows 100000 --skip-ray
    python benchmarks/bench_audit.py --detector rules --json-out /tmp/audit-bench.json

Scenarios:
1. the ShareGPT, Alpaca, HH-RLHF, Dolly and LIMA samples of ../shared/data, audited
   together (their real formats: gzip JSONL, JSON arrays, CSV);
2. a gzipped 100,000-row synthetic file (gzip cannot be split), with its batches
   streamed from the parent to the workers vs read whole by one worker: which pays;
3. synthetic prompt/response JSONL files of 100,000 and `--rows` (default 1,000,000)
   rows made by repeating every exchange of those samples (one assistant turn per row),
   written to a temporary folder and deleted afterwards; audited with the local engine
   and (unless --skip-ray) with Ray Data on a local Ray instance.

Memory is the peak of the summed resident set size (RSS) of this process and all its
descendants (workers; for Ray also the raylet, GCS and object store), sampled every
0.1 s. Results are printed as a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gzip
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

SAMPLES = {
    "sharegpt": "ift/sharegpt/sharegpt_v3_unfiltered_cleaned_split_sample5000.jsonl.gz",
    "alpaca": "ift/alpaca/alpaca_data_5000_subset.json",
    "hh_rlhf": "ift/hh-rlhf/harmless-base/test.jsonl.gz",
    "dolly": "ift/dolly/databricks_dolly_closed_qa_1000.csv",
    "lima": "ift/lima/lima.json.gz",
}


class PeakRSS:
    """Peak of the summed RSS of this process tree, sampled in a background thread."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval, self.peak, self.peak_parent = interval, 0, 0
        self.cpu: dict[int, float] = {}  # pid -> last seen user+system seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _tree(self) -> tuple[int, int]:
        import psutil

        me = psutil.Process()
        total = parent = me.memory_info().rss
        for proc in [me, *me.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                if proc is not me:
                    total += proc.memory_info().rss
                t = proc.cpu_times()
                self.cpu[proc.pid] = t.user + t.system
        return total, parent

    def _run(self) -> None:
        while not self._stop.is_set():
            total, parent = self._tree()
            self.peak, self.peak_parent = max(self.peak, total), max(self.peak_parent, parent)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        import psutil

        t = psutil.Process().cpu_times()
        self.cpu_before = t.user + t.system
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._tree()

    @property
    def cpu_s(self) -> float:
        """CPU seconds (user + system) of the whole process tree during the run."""
        return sum(self.cpu.values()) - self.cpu_before


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def make_synthetic(paths: list[str], rows: int, out: Path) -> Path:
    """`rows` prompt/response rows cycling through every exchange of `paths`."""
    import orjson

    from refusalkit.readers import read_exchanges

    pool = [(ex.prompt, ex.response) for ex in read_exchanges(paths)]
    with open(out, "wb") as fh:
        for i in range(rows):
            prompt, response = pool[i % len(pool)]
            fh.write(orjson.dumps({"id": f"s{i}", "prompt": prompt, "response": response}) + b"\n")
    return out


def run_one(label: str, paths: list[str], out: Path, **cfg: Any) -> dict[str, Any]:
    from refusalkit.audit import AuditConfig, audit_data

    shutil.rmtree(out, ignore_errors=True)
    config = AuditConfig(paths, **cfg)
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        res = audit_data(config, out, progress=False)
        wall = time.perf_counter() - t0
    t = res.info["timing"]
    row = {
        "scenario": label,
        "engine": cfg.get("engine", "local"),
        "workers": config.workers,
        "detector": f"{res.info['detector']['name']} {res.info['detector']['version']}",
        "rows": t["rows"],
        "exchanges": t["exchanges"],
        "wall_s": round(wall, 2),
        "exchanges_per_s": round(t["exchanges"] / wall),
        "rows_per_s": round(t["rows"] / wall),
        "cpu_s": round(mem.cpu_s, 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "peak_rss_mib": round(mem.peak / 2**20),
        "peak_parent_rss_mib": round(mem.peak_parent / 2**20),
        "units": t["units"],
        "classify_s": t.get("classify_s"),
        "merge_s": round(wall - (t.get("plan_s") or 0) - (t.get("classify_s") or 0), 2),
        "refusal_rate": round(res.agg.total().refusal_rate().value, 4),
    }
    print(json.dumps(row), flush=True)
    return row


def markdown(rows: list[dict[str, Any]]) -> str:
    cols = {
        "scenario": "scenario",
        "engine": "engine",
        "rows": "rows",
        "exchanges": "assistant turns",
        "wall_s": "wall (s)",
        "exchanges_per_s": "turns/s",
        "classify_s": "classify (s)",
        "merge_s": "merge + report (s)",
        "cpu_s": "CPU (s)",
        "peak_rss_mib": "peak RSS, all processes (MiB)",
        "peak_parent_rss_mib": "peak RSS, parent (MiB)",
        "load_avg_1m": "load avg",
    }
    lines = [
        "| " + " | ".join(cols.values()) + " |",
        "|" + "|".join("---" if i < 2 else "---:" for i in range(len(cols))) + "|",
    ]
    for r in rows:
        cells = [f"{r[c]:,}" if isinstance(r[c], int) else str(r[c]) for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--detector", default="default")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()
    os.environ.setdefault("REFUSALKIT_NO_PROGRESS", "1")
    paths = [str(args.data / p) for p in SAMPLES.values()]
    common = {"detector": args.detector, "workers": args.workers}
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="refusalkit-bench-") as tmp:
        base = Path(tmp)
        results.append(run_one("5 IFT samples (real formats)", paths, base / "samples", **common))
        # unshardable input: a gzipped copy of 100,000 synthetic rows
        synth = make_synthetic(paths, 100_000, base / "synthetic_gz.jsonl")
        gz = base / "synthetic_100000.jsonl.gz"
        with open(synth, "rb") as src, gzip.open(gz, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst)
        synth.unlink()
        for mode, label in (("always", "streamed batches"), ("never", "one worker reads it")):
            results.append(
                run_one(
                    f"gzip 100,000 rows, {label}",
                    [str(gz)],
                    base / f"gz-{mode}",
                    stream=mode,
                    **common,
                )
            )
            shutil.rmtree(base / f"gz-{mode}", ignore_errors=True)
        gz.unlink()
        sizes = sorted({100_000, args.rows})
        for n in sizes:
            t0 = time.perf_counter()
            synth = make_synthetic(paths, n, base / f"synthetic_{n}.jsonl")
            print(
                f"generated {synth.name}: {synth.stat().st_size / 2**20:,.0f} MiB in {time.perf_counter() - t0:.0f} s",
                flush=True,
            )
            results.append(
                run_one(f"synthetic {n:,} rows", [str(synth)], base / f"syn{n}", **common)
            )
            if not args.skip_ray and n == max(sizes):
                results.append(
                    run_one(
                        f"synthetic {n:,} rows",
                        [str(synth)],
                        base / f"ray{n}",
                        engine="ray",
                        **common,
                    )
                )
            shutil.rmtree(base / f"syn{n}", ignore_errors=True)
            shutil.rmtree(base / f"ray{n}", ignore_errors=True)
            synth.unlink()
    meta = {
        "date": dt.date.today().isoformat(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    print()
    print(f"{meta['date']} · {meta['cpu']} · {meta['cores']} cores · Python {meta['python']}")
    print(markdown(results))
    if args.json_out:
        args.json_out.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
