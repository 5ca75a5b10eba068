"""Numbers for docs/benchmarks.md from finished `synth`, `finetune` and `bench` run folders.

Synth throughput and fine-tuning speed depend on the model server and the CPU, so they are
measured on real runs of the documented commands rather than in tests. Run these (they are
the commands behind the numbers in docs/benchmarks.md), then this script:

    refusalkit synth -n 2 -e smol --detail short --max-tokens 160 --dedup hashed \\
        -c privacy,modalities,no_reason,chain_of_command,invalid_premise,skill_level \\
        -o /tmp/synth_bench --log /tmp/synth_bench.sqlite
    refusalkit finetune --data tests/fixtures/finetune/falsereject_sft_sample.jsonl \\
        --max-steps 0 --no-merge --no-verify -o /tmp/ft/base_f16
    refusalkit finetune --data tests/fixtures/finetune/falsereject_sft_sample.jsonl \\
        --mix ../shared/data/ift/dolly/databricks_dolly_closed_qa_1000.csv --epochs 2 \\
        --batch-size 4 --lr 5e-4 --max-length 384 --no-merge -o /tmp/ft/ft
    refusalkit bench -e before -d xstest -d xstest-unsafe --limit 30 --max-tokens 64 -o /tmp/ft/runs/before
    refusalkit bench -e after  -d xstest -d xstest-unsafe --limit 30 --max-tokens 64 -o /tmp/ft/runs/after
    refusalkit bench leaderboard /tmp/ft/runs/before /tmp/ft/runs/after --name before \\
        --name after -o /tmp/ft/runs/board

(`smol`, `before`, `after` are `provider = "local"` endpoints in refusalkit.toml: the
bundled SmolLM2 GGUF and the two `model.gguf` files, each with `threads = 1` and a long
`timeout` on a busy machine; the fine-tunes ran with `OMP_NUM_THREADS=1`.)

    python benchmarks/bench_synth_finetune.py --synth /tmp/synth_bench --finetune /tmp/ft/ft \\
        --board /tmp/ft/runs/board
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
from pathlib import Path
from typing import Any


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def synth_numbers(folder: Path) -> dict[str, Any]:
    """Throughput (calls, tokens per second) and yield (complete items / planned items: an
    item is complete when its instruction, refusal and negative were all accepted and kept)."""
    s = _load(folder / "summary.json")
    run, tot = s["this_run"], s["totals"]
    planned = sum(c["planned_items"] for c in s["categories"].values())
    selected = sum(c["selected"] for c in s["categories"].values())
    complete = sum(c["complete"] for c in s["categories"].values())
    secs = run["seconds"] or float("nan")
    return {
        "categories": len(s["categories"]), "per_category": s["per_category_target"],
        "rows": s["rows"], "planned_items": planned, "complete_items": complete,
        "selected_items": selected, "rounds": s.get("rounds"),
        "yield": round(complete / planned, 3) if planned else None,  # complete / planned
        "calls": tot.get("calls", 0), "replayed": run["replayed"], "seconds": round(secs, 1),
        "calls_per_minute": round(60 * run["calls"] / secs, 1),
        "output_tokens_per_second": round(tot.get("output_tokens", 0) / secs, 1),
        "calls_per_selected_item": s["per_selected_item"].get("calls"),
        "failure_reasons": s.get("failure_reasons"), "shortfall": s["shortfall"],
    }  # fmt: skip


def finetune_numbers(folder: Path) -> dict[str, Any]:
    r = _load(folder / "finetune.json")
    t = r["train"]
    return {
        "examples": t["rows"], "steps": t["steps"], "examples_per_step": t["examples_per_step"],
        "tokens": t["tokens"], "assistant_tokens": t["assistant_tokens"],
        "trainable_parameters": t["trainable_parameters"], "seconds": t["seconds"],
        "seconds_per_step": t["seconds_per_step"], "first_loss": t["first_loss"],
        "last_loss": t["last_loss"], "load_seconds": r["timings"]["load_seconds"],
        "save_seconds": r["timings"]["save_seconds"], "total_seconds": r["timings"]["total_seconds"],
        "device": r["device"], "verify": (r.get("verify") or {}).get("answer"),
    }  # fmt: skip


def board_numbers(folder: Path) -> dict[str, Any]:
    doc = _load(folder / "report.json")
    return {"leaderboard": doc["leaderboard"], "comparisons": doc["comparisons"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--synth", type=Path)
    ap.add_argument("--finetune", type=Path)
    ap.add_argument("--board", type=Path, help="`bench leaderboard` output folder")
    ap.add_argument("--json-out", type=Path)
    a = ap.parse_args()
    out: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "load_average": os.getloadavg(),
    }
    if a.synth:
        out["synth"] = synth_numbers(a.synth)
    if a.finetune:
        out["finetune"] = finetune_numbers(a.finetune)
    if a.board:
        out["before_after"] = board_numbers(a.board)
    text = json.dumps(out, indent=2)
    print(text)
    if a.json_out:
        a.json_out.write_text(text + "\n")


if __name__ == "__main__":
    main()
