"""Client overhead: requests/s through the whole LLM stack against an instant server.

The server (tests/fault_server.py in "instant" mode) runs in its own process and answers
every request at once with a fixed completion, so what is measured is refusalkit's own
cost per request: preparing and hashing the request, the rate limiter, concurrency
slots, retries bookkeeping, the openai SDK and transport, parsing, and queueing the
SQLite log write. A second pass replays the same requests from the log (cache hits).

    python benchmarks/bench_llm_client.py [--requests 5000] [--concurrency 64] [--write-docs]

Targets (issue 4): >= 500 completed requests/s and >= 20,000 cached replays/s on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## LLM client overhead"


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _run(
    base_url: str, n: int, concurrency: int, log_path: Path, transport: str = "fast"
) -> dict[str, float]:
    from refusalkit.llm import ChatRequest, Endpoint, LLMClient, ResponseLog

    # rpm/tpm set (very high) so the limiter's code path runs on every request
    ep = Endpoint(
        name="bench", base_url=base_url, model="bench-model", max_concurrency=concurrency,
        rpm=10_000_000, tpm=10_000_000_000, params={"max_tokens": 16, "temperature": 0.0},
        price_input=1e-7, price_output=2e-7, transport=transport,
    )  # fmt: skip
    reqs = [
        ChatRequest.from_prompt(f"Benchmark prompt number {i}: say something short.")
        for i in range(n)
    ]
    warm = [ChatRequest.from_prompt(f"warm-up {i}") for i in range(200)]
    log = ResponseLog(log_path)
    async with LLMClient(ep, log=log) as client:
        await client.chat_all(warm)
        t0, c0 = time.perf_counter(), time.process_time()
        fresh = [r async for r in client.chat_many(reqs)]
        log.flush()  # the log write is part of the measured work
        t_fresh, c_fresh = time.perf_counter() - t0, time.process_time() - c0
        assert len(fresh) == n and all(r.ok and not r.cached for r in fresh), "fresh pass failed"
        t0, c0 = time.perf_counter(), time.process_time()
        replay = [r async for r in client.chat_many(reqs)]
        t_cached, c_cached = time.perf_counter() - t0, time.process_time() - c0
        assert len(replay) == n and all(r.cached for r in replay), "replay pass was not cached"
    log.close()
    return {
        "fresh_rps": n / t_fresh,
        "cached_rps": n / t_cached,
        "fresh_cpu_us": 1e6 * c_fresh / n,
        "cached_cpu_us": 1e6 * c_cached / n,
        "load": os.getloadavg()[0],
    }


def _write_docs(text: str) -> None:
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    doc = (
        DOCS.read_text()
        if DOCS.exists()
        else "# Benchmarks\n\nMeasured numbers for refusalkit's components; each section is written by its benchmark script.\n"
    )
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(doc):
        doc = pattern.sub(lambda _: text, doc)
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    DOCS.write_text(doc)


def _measure(port: int, args: argparse.Namespace, transport: str, repeat: int) -> dict[str, Any]:
    runs = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["REFUSALKIT_HOME"] = tmp
            url = f"http://127.0.0.1:{port}/v1"
            log = Path(tmp) / "logs.sqlite"
            runs.append(asyncio.run(_run(url, args.requests, args.concurrency, log, transport)))

    def median(name: str) -> float:
        return sorted(r[name] for r in runs)[len(runs) // 2]

    out: dict[str, Any] = {k: median(k) for k in runs[0] if k != "load"}
    out["loads"] = ", ".join(f"{r['load']:.1f}" for r in runs)
    for name in ("fresh", "cached"):
        every = ", ".join(f"{r[name + '_rps']:,.0f}" for r in runs)
        print(f"[{transport}] {name} requests/s: {out[name + '_rps']:,.0f}  (runs: {every})")
    print(
        f"[{transport}] client CPU per request: {out['fresh_cpu_us']:,.0f} us fresh, "
        f"{out['cached_cpu_us']:,.1f} us cached; load average: {out['loads']}"
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3, help="runs; the median is reported")
    ap.add_argument(
        "--compare-httpx",
        action="store_true",
        help='also run once over httpx\'s own transport (the `transport = "httpx"` setting)',
    )
    ap.add_argument("--write-docs", action="store_true", help=f"update the section in {DOCS}")
    args = ap.parse_args()

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fault_server.py"), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        server.stdout.readline()  # "listening on ..."
        fast = _measure(port, args, "fast", args.repeat)
        slow = _measure(port, args, "httpx", 1) if args.compare_httpx else None
    finally:
        server.terminate()
        server.wait(10)
    if not args.write_docs:
        return
    import openai

    cores = os.cpu_count()
    rows = [
        f"| completed requests/s, whole stack (prepare + hash, limiter, slots, retry loop, openai SDK, "
        f"transport, parse, SQLite log write) | {fast['fresh_rps']:,.0f} | {fast['fresh_cpu_us']:,.0f} µs | ≥ 500 |",
        f"| cached replays/s (the same requests read back from the log) | {fast['cached_rps']:,.0f} "
        f"| {fast['cached_cpu_us']:,.1f} µs | ≥ 20,000 |",
    ]
    if slow:
        rows.append(
            f'| for comparison: completed requests/s over httpx\'s own transport (`transport = "httpx"`, '
            f"one run) | {slow['fresh_rps']:,.0f} | {slow['fresh_cpu_us']:,.0f} µs | |"
        )
    text = (
        f"{SECTION}\n\n"
        f"Script: `python benchmarks/bench_llm_client.py --requests {args.requests} --concurrency "
        f"{args.concurrency}{' --compare-httpx' if slow else ''} --write-docs`.\n\n"
        f"**{datetime.date.today().isoformat()} · {_cpu_model()}, {cores} cores · Python "
        f"{platform.python_version()} · openai {openai.__version__}.** The instant server "
        "(tests/fault_server.py, a fixed completion for every request) runs in a second process on "
        f"the same cores. Each figure is the median of {args.repeat} runs of {args.requests:,} distinct "
        f"requests, {args.concurrency} in flight; 1-minute load average after each run: {fast['loads']} "
        "(the machine was shared with other developers' work). CPU per request is the client process's "
        "own CPU time (event loop plus log-writer thread), the steadier number on a busy machine.\n\n"
        "| measure | result | client CPU / request | target |\n|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n\n"
    )
    _write_docs(text)
    print(f"wrote {DOCS}")


if __name__ == "__main__":
    main()
