"""Stage 5: context-aware answers in the instruct and the CoT format.

Both formats follow the four-part structure (acknowledge the safe and the unsafe reading;
answer the safe one fully; explain the risk of the unsafe one and point to proper
resources; close). The CoT answer is reasoning, then the answer:

- `cot_format="think"` (default): the model writes `<think>...</think>` before the answer,
  or returns its reasoning in the provider's reasoning field (reasoning models); the text
  is split with `refusalkit.llm.split_thinking`. An answer without reasoning, or with
  nothing after it, is malformed.
- `cot_format="json"`: reasoning and answer as the fields of a JSON object, for models that
  do not reliably write the tags (small local models).

An item is `ok` when both formats succeeded; when one stayed malformed it is `failed`
(the other format's answer and the raw texts are kept in the record).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from refusalkit.falsereject.agents import Agent, Parser, describe_endpoint
from refusalkit.falsereject.config import PipelineConfig, fingerprint
from refusalkit.falsereject.schema import cot_json_schema
from refusalkit.falsereject.stages import StageSummary, run_stage_file
from refusalkit.falsereject.templates import load_template
from refusalkit.llm.types import ChatResult, split_thinking


def think_parser(allow_truncated: bool) -> Parser:
    def parse(result: ChatResult) -> tuple[Any, str | None]:
        answer, extra = split_thinking(result.text)
        reasoning = "\n\n".join(p.strip() for p in (result.reasoning, extra) if p and p.strip())
        if not reasoning:
            return None, "no reasoning: expected <think>...</think> before the answer"
        if not answer.strip():
            return None, "no answer after the reasoning"
        if result.finish_reason == "length" and not allow_truncated:
            return None, "the answer was cut off at max_tokens"
        return {"reasoning_content": reasoning, "solution": answer.strip()}, None

    return parse


class Responding:
    def __init__(self, config: PipelineConfig, client: Any) -> None:
        rc = config.role("responder")
        self.config = config
        local = client.endpoint(rc.endpoint).is_local
        kw = {
            "max_attempts": config.max_attempts,
            "local": local,
            "allow_truncated": config.allow_truncated,
        }
        inst = load_template("responder_instruct", config.prompts_dir, config.templates)
        cot_name = "responder_cot" if config.cot_format == "think" else "responder_cot_json"
        cot = load_template(cot_name, config.prompts_dir, config.templates)
        self.instruct = Agent("responder", inst, rc, **kw)
        self.cot = Agent("responder", cot, rc, **kw)
        self.cot_schema = (
            cot_json_schema(local=local, max_tokens=rc.max_tokens)
            if config.cot_format == "json"
            else None
        )
        self.job = fingerprint(
            "respond",
            inst.digest,
            cot.digest,
            config.cot_format,
            describe_endpoint(client, rc.endpoint),
            rc.params(),
            config.max_attempts,
            config.allow_truncated,
        )

    def _cot_parser(self) -> Parser:
        if self.cot_schema is None:
            return think_parser(self.config.allow_truncated)
        inner = self.cot.json_parser(self.cot_schema)

        def parse(result: ChatResult) -> tuple[Any, str | None]:
            if result.finish_reason == "length" and not self.config.allow_truncated:
                return None, "the answer was cut off at max_tokens"
            data, problem = inner(result)
            if problem:
                return None, problem
            return {
                "reasoning_content": data["reasoning"].strip(),
                "solution": data["answer"].strip(),
            }, None

        return parse

    async def run(self, client: Any, rec: dict[str, Any]) -> dict[str, Any]:
        values = {"prompt": rec["prompt"], "category": rec["category"]}
        inst, cot = await asyncio.gather(
            self.instruct.ask(client, values, self.instruct.text_parser()),
            self.cot.ask(client, values, self._cot_parser(), schema=self.cot_schema),
        )
        info: dict[str, Any] = {"cot_format": self.config.cot_format}
        failures = []
        for name, out in (("instruct", inst), ("cot", cot)):
            if out.ok:
                payload = {"response": out.data} if name == "instruct" else dict(out.data)
                info[name] = {
                    **payload,
                    "model": out.model,
                    "endpoint": out.endpoint,
                    "attempts": out.attempts,
                }
            else:
                failures.append((name, out))
        if not failures:
            info["status"] = "ok"
        else:
            transient = any(o.failure == "request" for _, o in failures)
            info["status"] = "error" if transient else "failed"
            info["failure"] = [{"format": n, **o.failure_record("responder")} for n, o in failures]
            info["error"] = "; ".join(f"{n}: {o.error}" for n, o in failures)
        return {**rec, "respond": info}


async def respond_prompts(
    checked: str | Path,
    output: str | Path,
    config: PipelineConfig,
    client: Any,
    *,
    overwrite: bool = False,
) -> StageSummary:
    """Run stage 5 on the prompts an `orchestrate` output passed (resumable)."""
    resp = Responding(config, client)
    return await run_stage_file(
        "respond", checked, output, resp.job, lambda r: resp.run(client, r), client,
        endpoints=[config.role("responder").endpoint], configured=config.concurrency,
        description="respond: instruct + CoT", overwrite=overwrite, cot_format=config.cot_format,
    )  # fmt: skip
