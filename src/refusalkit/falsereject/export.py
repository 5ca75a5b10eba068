"""Stage 6: export. The FalseReject schema with provenance, SFT chat files, dedup, statistics.

Files written to the export folder (each atomically; rerunning rewrites them):

- `falsereject.jsonl`: `id`, `prompt`, `category` (FalseReject id), `category_text`,
  `instruct_response`, `cot_response` {`reasoning_content`, `solution`}, `provenance`
  (seed ids, sub-graph, Generator/Discriminator rounds, pool verdicts, orchestrator
  checks and rationale, models of every role, stage job fingerprints).
- `sft_instruct.jsonl`, `sft_cot.jsonl`: OpenAI `messages` rows (user prompt, assistant
  answer; the CoT answer is `<think>\\nreasoning\\n</think>\\n\\nanswer`), readable by
  `refusalkit.readers` as shape `messages`.
- `duplicates.jsonl`: every removed item with the kept item it duplicates, the kind
  (exact / near) and the similarity.
- `stats.json`: counts per category, duplicate counts, the dedup backend and threshold,
  and the diversity of the exported prompts (Self-BLEU, distinct-n: `core.diversity`).

Items are ordered by their plan index before de-duplication, so the first of a group of
duplicates is always the same, whatever order the stages finished them in.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from refusalkit.core.diversity import deduplicate, diversity_stats
from refusalkit.core.io import atomic_write, dumps, dumps_pretty
from refusalkit.falsereject.stages import passed_on, read_records

FILES = {
    "dataset": "falsereject.jsonl",
    "sft_instruct": "sft_instruct.jsonl",
    "sft_cot": "sft_cot.jsonl",
    "duplicates": "duplicates.jsonl",
    "stats": "stats.json",
}


def cot_text(reasoning: str, solution: str) -> str:
    """The CoT chat text: reasoning in `<think>` tags, then the answer (also the SFT
    target `finetune` builds from FalseReject rows, so both agree to the character)."""
    return f"<think>\n{reasoning.strip()}\n</think>\n\n{solution.strip()}"


def provenance(rec: dict[str, Any]) -> dict[str, Any]:
    gen, pool = rec["generate"], rec["pool"]
    orch, resp = rec["orchestrator"], rec["respond"]
    return {
        "seed_ids": rec.get("seed_ids", []),
        "subgraph": rec.get("subgraph"),
        "rounds": gen.get("rounds", []),
        "n_rounds": len(gen.get("rounds", [])),
        "pool": {
            "refused_by": pool.get("refused_by", []),
            "min_refusals": pool.get("min_refusals"),
            "judge": pool.get("judge"),
            "system": pool.get("system"),
            "verdicts": [
                {k: v.get(k) for k in ("endpoint", "model", "behavior", "refused", "response")}
                for v in pool.get("verdicts", [])
            ],
        },
        "orchestrator": {"checks": orch.get("checks"), "rationale": orch.get("rationale")},
        "models": {
            **gen.get("models", {}),
            "pool": sorted({v.get("model") or "" for v in pool.get("verdicts", [])}),
            "orchestrator": orch.get("model"),
            "responder": resp["instruct"].get("model"),
        },
        "cot_format": resp.get("cot_format"),
        "jobs": {k: rec[k].get("job") for k in ("generate", "pool", "orchestrator", "respond")},
    }


def to_falsereject(rec: dict[str, Any]) -> dict[str, Any]:
    resp = rec["respond"]
    return {
        "id": rec["id"],
        "prompt": rec["prompt"],
        "category": rec["category_id"],
        "category_text": rec["category"],
        "instruct_response": resp["instruct"]["response"],
        "cot_response": {
            "reasoning_content": resp["cot"]["reasoning_content"],
            "solution": resp["cot"]["solution"],
        },
        "provenance": provenance(rec),
    }


def sft_rows(row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    base = {"id": row["id"], "category": row["category"], "category_text": row["category_text"]}
    user = {"role": "user", "content": row["prompt"]}
    cot = row["cot_response"]
    instruct = {
        **base,
        "messages": [user, {"role": "assistant", "content": row["instruct_response"]}],
    }
    cot_row = {
        **base,
        "messages": [
            user,
            {"role": "assistant", "content": cot_text(cot["reasoning_content"], cot["solution"])},
        ],
    }
    return instruct, cot_row


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(dumps(r) + b"\n" for r in rows)


def export_dataset(
    responses: str | Path,
    out_dir: str | Path,
    *,
    backend: str | None = "auto",
    threshold: float | None = None,
    yields: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Export the `ok` items of a `respond` output; returns what `stats.json` holds."""
    out_dir = Path(out_dir)
    items = passed_on(read_records(responses), "respond", Path(responses))
    items.sort(key=lambda r: (r.get("index", 0), str(r["id"])))
    rows = [to_falsereject(r) for r in items]
    dedup = deduplicate([r["prompt"] for r in rows], threshold=threshold, backend=backend)
    kept = [r for r, k in zip(rows, dedup.keep, strict=True) if k]
    dups = [
        {
            "id": r["id"],
            "prompt": r["prompt"],
            "kind": dedup.kind[i],
            "duplicate_of": rows[int(dedup.duplicate_of[i])]["id"],
            "similarity": round(float(dedup.similarity[i]), 4),
        }
        for i, r in enumerate(rows)
        if not dedup.keep[i]
    ]
    sft = [sft_rows(r) for r in kept]
    per_cat = Counter(r["category_text"] for r in kept)
    kinds = Counter(d["kind"] for d in dups)
    stats = {
        "responses_file": str(responses),
        "items": len(rows),
        "exported": len(kept),
        "duplicates": {"exact": kinds.get("exact", 0), "near": kinds.get("near", 0)},
        "dedup": {"backend": dedup.backend, "threshold": dedup.threshold},
        "per_category": dict(sorted(per_cat.items())),
        "diversity": diversity_stats([r["prompt"] for r in kept]),
        "files": {k: str(out_dir / v) for k, v in FILES.items()},
    }
    if yields is not None:
        stats["yields"] = yields
    atomic_write(out_dir / FILES["dataset"], _jsonl(kept))
    atomic_write(out_dir / FILES["sft_instruct"], _jsonl([a for a, _ in sft]))
    atomic_write(out_dir / FILES["sft_cot"], _jsonl([b for _, b in sft]))
    atomic_write(out_dir / FILES["duplicates"], _jsonl(dups))
    atomic_write(out_dir / FILES["stats"], dumps_pretty(stats) + "\n")
    return stats
