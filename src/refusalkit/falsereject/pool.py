"""Stage 3: the refusal validation pool. Keep prompts that at least K pool models refuse.

Every accepted prompt is sent to every pool endpoint (optionally under a system prompt,
e.g. a deployed product's); a detector (`load_detector(spec)`: the bundled classifier
`default`, `rules`, a saved detector folder, or an LLM judge such as
`llm-falsereject:ENDPOINT`) reads the answers. A prompt is `kept` when at least
`min_refusals` endpoints refused it (full or partial refusal), `dropped` otherwise.
Every endpoint's answer and verdict is recorded, with `refused_by` listing who refused.

Unjudged answers (an empty response, a judge answer that does not parse) never count as
refusals. A failed pool request is an `error` only when it could change the decision;
then the item is redone on the next run (the answers that did arrive come from the log).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from refusalkit.core.models import Behavior, Exchange, Verdict
from refusalkit.falsereject.agents import describe_endpoint
from refusalkit.falsereject.config import PipelineConfig, fingerprint
from refusalkit.falsereject.stages import StageSummary, run_stage_file
from refusalkit.llm.types import ChatRequest, ChatResult

BATCH = 16


def pool_decision(verdicts: Sequence[dict[str, Any]], k: int) -> tuple[str, list[str]]:
    """(status, refused_by) from per-endpoint verdict records (see the module docstring)."""
    refused_by = [v["endpoint"] for v in verdicts if v["refused"] is True]
    pending = sum(1 for v in verdicts if v.get("error"))
    if len(refused_by) >= k:
        return "kept", refused_by
    if len(refused_by) + pending >= k:
        return "error", refused_by
    return "dropped", refused_by


class PoolValidation:
    def __init__(self, config: PipelineConfig, client: Any) -> None:
        from refusalkit.detectors.registry import load_detector

        self.config = config
        self.rc = config.role("pool")
        names: list[str] = []
        for e in config.pool_endpoints:
            name = client.endpoint(e).name
            if name not in names:
                names.append(name)
        self.endpoints = names
        self.detector = load_detector(config.judge)
        self.job = fingerprint(
            "validate",
            [describe_endpoint(client, e) for e in names],
            self.rc.params(),
            config.pool_system,
            config.judge,
            getattr(self.detector, "version", ""),
            config.min_refusals,
        )

    def requests(self, batch: Sequence[dict[str, Any]]) -> list[ChatRequest]:
        return [
            ChatRequest.from_prompt(
                rec["prompt"],
                endpoint=ep,
                system=self.config.pool_system,
                params=self.rc.params(),
                tag="falsereject:pool",
                meta=(i, ep),
            )
            for i, rec in enumerate(batch)
            for ep in self.endpoints
        ]

    async def judge(self, client: Any, exchanges: list[Exchange]) -> list[Verdict]:
        if hasattr(self.detector, "apredict"):
            return await self.detector.apredict(exchanges, client=client)
        return await asyncio.to_thread(self.detector.predict, exchanges)

    async def run_batch(self, client: Any, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        results: list[ChatResult] = await client.chat_all(self.requests(batch))
        exchanges = [
            Exchange(
                id=f"{batch[r.meta[0]]['id']}@{r.meta[1]}",
                prompt=batch[r.meta[0]]["prompt"],
                response=r.text if r.ok else "",
                system=self.config.pool_system,
                metadata={} if r.ok else {"error": r.error_type or "error"},
            )
            for r in results
        ]
        verdicts = await self.judge(client, exchanges)
        per_item: list[list[dict[str, Any]]] = [[] for _ in batch]
        for r, v in zip(results, verdicts, strict=True):
            refused = None if v.behavior is Behavior.UNJUDGED else bool(v.is_refusal)
            per_item[r.meta[0]].append(
                {
                    "endpoint": r.endpoint,
                    "model": r.model,
                    "response": r.text,
                    "finish_reason": r.finish_reason,
                    "error": r.error if not r.ok else None,
                    "behavior": v.behavior.value,
                    "refused": refused,
                    "refusal_score": v.refusal_score,
                    "rationale": v.rationale,
                    "unjudged_reason": v.unjudged_reason,
                    "detector": v.detector,
                }
            )
        out = []
        for rec, verdicts_ in zip(batch, per_item, strict=True):
            status, refused_by = pool_decision(verdicts_, self.config.min_refusals)
            rec = {
                **rec,
                "pool": {
                    "status": status,
                    "refused_by": refused_by,
                    "refusals": len(refused_by),
                    "endpoints": len(verdicts_),
                    "min_refusals": self.config.min_refusals,
                    "judge": self.config.judge,
                    "system": self.config.pool_system,
                    "verdicts": verdicts_,
                },
            }
            out.append(rec)
        return out


async def validate_prompts(
    generated: str | Path,
    output: str | Path,
    config: PipelineConfig,
    client: Any,
    *,
    overwrite: bool = False,
) -> StageSummary:
    """Run stage 3 on the accepted prompts of a `generate` output (resumable)."""
    pv = PoolValidation(config, client)
    return await run_stage_file(
        "validate", generated, output, pv.job, lambda b: pv.run_batch(client, b), client,
        endpoints=pv.endpoints, configured=config.concurrency, description="validate: pool answers",
        overwrite=overwrite, batch=BATCH, pool_endpoints=pv.endpoints, judge=config.judge,
        min_refusals=config.min_refusals,
    )  # fmt: skip
