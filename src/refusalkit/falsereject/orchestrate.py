"""Stage 4: the Orchestrator's final check of every prompt the pool kept.

It answers four yes/no checks (benign, plausible, sensitive-looking, in its category) and
a rationale; the prompt `passed` only when all four hold, else it is `rejected` with the
failed checks named. A malformed answer after the retries is `failed` (raw text kept).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from refusalkit.falsereject.agents import Agent, describe_endpoint
from refusalkit.falsereject.config import PipelineConfig, fingerprint
from refusalkit.falsereject.schema import orchestrator_schema
from refusalkit.falsereject.stages import StageSummary, run_stage_file
from refusalkit.falsereject.templates import load_template
from refusalkit.taxonomy import load_falsereject_taxonomy

CHECKS = ("benign", "plausible", "sensitive_looking", "in_category")


class Orchestration:
    def __init__(self, config: PipelineConfig, client: Any) -> None:
        rc = config.role("orchestrator")
        local = client.endpoint(rc.endpoint).is_local
        tpl = load_template("orchestrator", config.prompts_dir, config.templates)
        self.agent = Agent("orchestrator", tpl, rc, max_attempts=config.max_attempts, local=local)
        self.schema = orchestrator_schema(local=local, max_tokens=rc.max_tokens)
        self.tax = load_falsereject_taxonomy()
        self.job = fingerprint(
            "orchestrate",
            tpl.digest,
            describe_endpoint(client, rc.endpoint),
            rc.params(),
            config.max_attempts,
        )

    async def run(self, client: Any, rec: dict[str, Any]) -> dict[str, Any]:
        cat = self.tax.by_id(rec["category_id"])
        values = {
            "prompt": rec["prompt"],
            "category": cat.name,
            "category_description": cat.description,
        }
        out = await self.agent.ask(
            client, values, self.agent.json_parser(self.schema), schema=self.schema
        )
        info: dict[str, Any] = {
            "attempts": out.attempts,
            "model": out.model,
            "endpoint": out.endpoint,
        }
        if not out.ok:
            info["status"] = "error" if out.failure == "request" else "failed"
            info["failure"] = out.failure_record("orchestrator")
            info["error"] = out.error
        else:
            checks = {c: bool(out.data[c]) for c in CHECKS}
            failed = [c for c in CHECKS if not checks[c]]
            info.update(
                status="passed" if not failed else "rejected",
                checks=checks,
                failed_checks=failed,
                rationale=out.data["rationale"],
            )
        return {**rec, "orchestrator": info}


async def orchestrate_prompts(
    validated: str | Path,
    output: str | Path,
    config: PipelineConfig,
    client: Any,
    *,
    overwrite: bool = False,
) -> StageSummary:
    """Run stage 4 on the prompts a `validate` output kept (resumable)."""
    orch = Orchestration(config, client)
    return await run_stage_file(
        "orchestrate", validated, output, orch.job, lambda r: orch.run(client, r), client,
        endpoints=[config.role("orchestrator").endpoint], configured=config.concurrency,
        description="orchestrate: final check", overwrite=overwrite,
    )  # fmt: skip
