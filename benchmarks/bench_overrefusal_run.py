"""A 1,000-prompt `refusalkit bench` run against the local llama.cpp server, and its overhead.

One local SmolLM2 server (4 slots) serves two passes over the same 1,000 prompts
(XSTest safe 250 + unsafe 200, OR-Bench-Hard 350 and OR-Bench-Toxic 200, stratified,
seed 0), each with the same request (chat template, temperature 0, `--max-tokens`):

1. **raw**: a bare asyncio loop posting to `/v1/chat/completions` with 4 requests in
   flight (one per slot) over one keep-alive connection each; it records the server's own
   `timings` (prompt + generation milliseconds per request).
2. **bench**: `run_bench` on the same 1,000 prompts as one user file (load and validate, generate through the LLM layer with its log and
   resumable JSONL, judge with the bundled classifier, write results and the report), with
   an empty response log so every answer is generated.

The tool's overhead is the bench generation wall time minus the raw wall time, and the
CPU time the refusalkit process itself spent (the server is a separate process).
The order of the passes alternates with `--order` to expose drift on a shared machine.

    python benchmarks/bench_overrefusal_run.py [--max-tokens 32] [--prompts 1000] [--threads N]
        [--json-out FILE]

On a machine shared with other CPU-heavy jobs, `--threads 1` keeps llama.cpp's worker
threads from waiting on each other (measured 0.4 vs 30 tokens/s per request on two busy
cores, 2026-11-23).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

SETS = (("xstest", None), ("xstest-unsafe", None), ("orbench-hard", 350), ("orbench-toxic", 200))


def _cpu_model() -> str:
    out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    return next(
        (ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name:")),
        "?",
    )


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _prompts() -> list[Any]:
    from refusalkit.bench import BenchConfig, load_sets

    out = []
    for name, limit in SETS:
        out += load_sets(BenchConfig(datasets=[name], limit=limit))
    return out


async def _raw(base_url: str, prompts: list[str], max_tokens: int, slots: int) -> dict[str, Any]:
    """The same requests with nothing but an HTTP client around them."""
    import httpx

    queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    for i, p in enumerate(prompts):
        queue.put_nowait((i, p))
    answers: list[str] = [""] * len(prompts)
    server_ms: list[float] = []

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=600) as client:
            while not queue.empty():
                i, p = queue.get_nowait()
                body = {"model": "local", "messages": [{"role": "user", "content": p}],
                        "max_tokens": max_tokens, "temperature": 0.0}  # fmt: skip
                data = (await client.post("/chat/completions", json=body)).json()
                answers[i] = data["choices"][0]["message"]["content"] or ""
                t = data.get("timings") or {}
                server_ms.append(float(t.get("prompt_ms", 0)) + float(t.get("predicted_ms", 0)))

    cpu, start = _cpu_s(), time.monotonic()
    await asyncio.gather(*(worker() for _ in range(slots)))
    return {"wall_s": time.monotonic() - start, "cpu_s": _cpu_s() - cpu,
            "server_s_sum": sum(server_ms) / 1000, "answers": answers}  # fmt: skip


def _bench(endpoint: Any, prompts_file: Path, max_tokens: int, out: Path) -> dict[str, Any]:
    from refusalkit.bench import BenchConfig, run_bench

    cpu, start = _cpu_s(), time.monotonic()
    info = run_bench(BenchConfig(datasets=[f"mix={prompts_file}"], endpoints=[endpoint],
                                 max_tokens=max_tokens), out, show_progress=False)  # fmt: skip
    wall, cpu_used = time.monotonic() - start, _cpu_s() - cpu
    answers = {}
    for line in (out / "generations" / "local.jsonl").read_text().splitlines():
        row = json.loads(line)
        answers[row["prompt"]] = row["response"]
    (ep,) = info["endpoints"]
    return {"wall_s": wall, "cpu_s": cpu_used, "generate_s": info["timing"]["generate_s"],
            "judge_s": sum(j["seconds"] for j in info["judges"]),
            "report_s": info["timing"]["report_s"], "answers": answers, "rows": ep["rows"],
            "errors": ep["errors"], "output_tokens": ep["output_tokens"]}  # fmt: skip


def _write_prompts(sets: list[Any], path: Path, n: int) -> list[str]:
    """The prompts as one user file (id, prompt, category, expected); `n` < 1,000 takes
    an evenly spaced subset (quick checks of this script)."""
    import csv

    rows = [(f"{s.spec.name}:{it.id}", it.prompt, f"{s.spec.name}/{it.category}", it.expected)
            for s in sets for it in s.items]  # fmt: skip
    rows = [rows[i * len(rows) // n] for i in range(min(n, len(rows)))]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "prompt", "category", "expected"])
        w.writerows(rows)
    return [r[1] for r in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--prompts", type=int, default=1000, help="fewer for a quick check")
    ap.add_argument("--parallel", type=int, default=4, help="server slots (= raw concurrency)")
    ap.add_argument("--threads", type=int, default=0, help="server CPU threads (0: all cores)")
    ap.add_argument("--order", choices=("raw-first", "bench-first"), default="raw-first")
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rk-bench-"))
    os.environ["REFUSALKIT_HOME"] = str(tmp / "home")  # empty log: every answer is generated
    os.environ["REFUSALKIT_NO_PROGRESS"] = "1"
    from refusalkit.llm.local import LocalServer

    prompts = _write_prompts(_prompts(), tmp / "prompts.csv", args.prompts)
    load0 = os.getloadavg()
    t0 = time.monotonic()
    server_kw = {"threads": args.threads} if args.threads else {}
    with LocalServer(n_parallel=args.parallel, log_path=tmp / "server.log", **server_kw) as srv:
        startup = time.monotonic() - t0
        ep = srv.endpoint()
        res: dict[str, Any] = {}
        for phase in ("raw", "bench") if args.order == "raw-first" else ("bench", "raw"):
            if phase == "raw":
                res["raw"] = asyncio.run(
                    _raw(srv.base_url, prompts, args.max_tokens, args.parallel)
                )
            else:
                res["bench"] = _bench(ep, tmp / "prompts.csv", args.max_tokens, tmp / "run")
    raw, bench = res["raw"], res["bench"]
    same = sum(bench["answers"].get(p) == a for p, a in zip(prompts, raw["answers"], strict=True))
    out = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(), "cores": os.cpu_count(), "load_before": [round(x, 2) for x in load0],
        "load_after": [round(x, 2) for x in os.getloadavg()], "max_tokens": args.max_tokens,
        "slots": args.parallel, "threads": args.threads or os.cpu_count(), "prompts": len(prompts), "order": args.order,
        "server_startup_s": round(startup, 2),
        "raw_wall_s": round(raw["wall_s"], 2), "raw_cpu_s": round(raw["cpu_s"], 2),
        "raw_server_s_sum": round(raw["server_s_sum"], 2),
        "bench_wall_s": round(bench["wall_s"], 2), "bench_generate_s": round(bench["generate_s"], 2),
        "bench_judge_s": round(bench["judge_s"], 2), "bench_report_s": round(bench["report_s"], 2),
        "bench_cpu_s": round(bench["cpu_s"], 2), "bench_rows": bench["rows"], "bench_errors": bench["errors"],
        "output_tokens": bench["output_tokens"],
        "generation_overhead_s": round(bench["generate_s"] - raw["wall_s"], 2),
        "identical_answers": same,
    }  # fmt: skip
    print(json.dumps(out, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
