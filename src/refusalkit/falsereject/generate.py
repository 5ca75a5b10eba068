"""Stage 2: adversarial generation. The Generator writes, the Discriminator pushes back.

The plan is deterministic: item i gets category `categories[i % len(categories)]` and the
i-th sub-graph drawn by `SubgraphSampler` (seeded), so a rerun, or a run with a larger
`-n`, sees the same items under the same ids (`fr-000000`, ...). For each item the
Generator writes a question from the sub-graph and the category; the Discriminator says
`really_unsafe` (with feedback, which goes into the next round's Generator prompt) or
`only_looks_unsafe` (accepted). After `max_rounds` without acceptance the item is
`rejected`; a malformed answer after the agent's retries makes it `failed`.

Each item's Generator requests use sample indexes `100 * index + attempt`, so two items
with the same sub-graph and category still get independent samples, and a resumed run
asks exactly the same requests (answered from the response log).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from refusalkit.core.errors import ConfigError
from refusalkit.falsereject.agents import Agent, Outcome, describe_endpoint
from refusalkit.falsereject.config import PipelineConfig, fingerprint
from refusalkit.falsereject.graph import EntityGraph, SubgraphSampler, render_subgraph
from refusalkit.falsereject.schema import discriminator_schema, generator_schema
from refusalkit.falsereject.stages import (
    StageOutput,
    StageSummary,
    default_concurrency,
    run_items,
    summarize,
)
from refusalkit.falsereject.templates import load_template
from refusalkit.taxonomy import FalseRejectCategory, FalseRejectTaxonomy, load_falsereject_taxonomy
from refusalkit.taxonomy.schema import name_key

OTHERS_ID = 46
ACCEPT = "only_looks_unsafe"


def resolve_categories(
    values: Sequence[str | int] | None, tax: FalseRejectTaxonomy | None = None
) -> list[FalseRejectCategory]:
    """Categories by id or name (default: the 45 SORRY-Bench categories, not `Others`)."""
    tax = tax or load_falsereject_taxonomy()
    if not values:
        return [c for c in tax.categories if c.id != OTHERS_ID]
    out: list[FalseRejectCategory] = []
    for v in values:
        try:
            cat = tax.resolve(v)
        except KeyError as exc:
            raise ConfigError(
                str(exc).strip("'\""), hint="`refusalkit taxonomy show falsereject` lists them"
            ) from None
        if cat not in out:
            out.append(cat)
    return out


def plan_items(
    graph: EntityGraph, categories: Sequence[FalseRejectCategory], n: int, config: PipelineConfig
) -> list[dict[str, Any]]:
    """The first `n` items of the (deterministic, endless) plan."""
    sampler = SubgraphSampler(
        graph, seed=config.seed, min_nodes=config.min_nodes, max_nodes=config.max_nodes
    )
    items = []
    for i in range(n):
        cat = categories[i % len(categories)]
        items.append(
            {"index": i, "id": f"fr-{i:06d}", "category": cat, "subgraph": sampler.sample(cat.id)}
        )
    return items


class Generation:
    """The Generator/Discriminator loop of one item."""

    def __init__(self, config: PipelineConfig, client: Any, tax: FalseRejectTaxonomy) -> None:
        self.config, self.tax = config, tax
        g_rc, d_rc = config.role("generator"), config.role("discriminator")
        g_local = client.endpoint(g_rc.endpoint).is_local
        self.d_local = client.endpoint(d_rc.endpoint).is_local
        g_tpl = load_template("generator", config.prompts_dir, config.templates)
        d_tpl = load_template("discriminator", config.prompts_dir, config.templates)
        kw = {"max_attempts": config.max_attempts}
        self.generator = Agent("generator", g_tpl, g_rc, local=g_local, **kw)
        self.discriminator = Agent("discriminator", d_tpl, d_rc, local=self.d_local, **kw)
        self.job_parts = [
            g_tpl.digest,
            d_tpl.digest,
            describe_endpoint(client, g_rc.endpoint),
            describe_endpoint(client, d_rc.endpoint),
            g_rc.params(),
            d_rc.params(),
            config.max_rounds,
            config.max_attempts,
            config.seed,
            config.min_nodes,
            config.max_nodes,
        ]

    def job(self, graph: EntityGraph, categories: Sequence[FalseRejectCategory]) -> str:
        return fingerprint(
            "generate", graph.fingerprint, [c.id for c in categories], *self.job_parts
        )

    async def run(self, client: Any, item: dict[str, Any]) -> dict[str, Any]:
        cat: FalseRejectCategory = item["category"]
        g_schema = generator_schema(
            cat.name, local=self.generator.local, max_tokens=self.generator.rc.max_tokens
        )
        d_schema = discriminator_schema(
            local=self.d_local, max_tokens=self.discriminator.rc.max_tokens
        )

        def on_category(data: dict[str, Any]) -> str | None:
            if name_key(data["category"]) != name_key(cat.name):
                return f"off-category: wrote {data['category']!r}, asked for {cat.name!r}"
            if not data["prompt"].strip():
                return "empty prompt"
            return None

        g_parse = self.generator.json_parser(g_schema, on_category)
        d_parse = self.discriminator.json_parser(d_schema)
        base = {
            "category": cat.name,
            "category_description": cat.description,
            "domain": self.tax.domain_name(cat.domain),
            "subgraph": render_subgraph(item["subgraph"]),
        }
        info: dict[str, Any] = {
            "status": "rejected",
            "rounds": [],
            "models": {},
            "calls": 0,
            "cached": 0,
        }
        record = {
            "id": item["id"],
            "index": item["index"],
            "category_id": cat.id,
            "category": cat.name,
            "subgraph": item["subgraph"],
            "seed_ids": item["subgraph"]["seeds"],
            "prompt": None,
            "generate": info,
        }
        feedback = ""
        for rnd in range(1, self.config.max_rounds + 1):
            g = await self.generator.ask(
                client,
                {**base, "feedback": feedback},
                g_parse,
                sample=100 * item["index"],
                schema=g_schema,
            )
            self._account(info, "generator", g)
            if not g.ok:
                return self._fail(record, info, "generator", g)
            prompt = " ".join(g.data["prompt"].split())
            d = await self.discriminator.ask(
                client,
                {"prompt": prompt, "category": cat.name, "category_description": cat.description},
                d_parse,
                schema=d_schema,
            )
            self._account(info, "discriminator", d)
            if not d.ok:
                return self._fail(record, info, "discriminator", d)
            info["rounds"].append(
                {
                    "round": rnd,
                    "prompt": prompt,
                    "benign_intent": g.data["benign_intent"],
                    "verdict": d.data["verdict"],
                    "feedback": d.data["feedback"],
                    "attempts": {"generator": g.attempts, "discriminator": d.attempts},
                }
            )
            if d.data["verdict"] == ACCEPT:
                info["status"], record["prompt"] = "accepted", prompt
                return record
            feedback = (
                "\nYour previous question was judged really unsafe:\n<<<\n"
                f"{prompt}\n>>>\nReviewer's feedback: {d.data['feedback']}\n"
                "Write a new question that still sounds sensitive but is clearly benign."
            )
        return record

    @staticmethod
    def _account(info: dict[str, Any], role: str, out: Outcome) -> None:
        info["calls"] += out.calls
        info["cached"] += out.cached
        if out.model:
            info["models"][role] = out.model

    @staticmethod
    def _fail(
        record: dict[str, Any], info: dict[str, Any], role: str, out: Outcome
    ) -> dict[str, Any]:
        info["status"] = "error" if out.failure == "request" else "failed"
        info["failure"] = out.failure_record(role)
        info["error"] = out.error
        return record


async def generate_prompts(
    graph: EntityGraph,
    output: str | Path,
    config: PipelineConfig,
    client: Any,
    *,
    categories: Sequence[FalseRejectCategory] | None = None,
    n: int,
    overwrite: bool = False,
) -> StageSummary:
    """Run stage 2 for the first `n` planned items (resumable)."""
    started = time.monotonic()
    tax = load_falsereject_taxonomy()
    cats = list(categories) if categories else resolve_categories(None, tax)
    gen = Generation(config, client, tax)
    out = StageOutput(output, "generate", gen.job(graph, cats), overwrite=overwrite)
    try:
        todo = [it for it in plan_items(graph, cats, n, config) if it["id"] not in out.done]
        roles = [config.role("generator").endpoint, config.role("discriminator").endpoint]
        await run_items(
            todo,
            lambda it: gen.run(client, it),
            out,
            description="generate: write and review",
            total=len(todo),
            concurrency=default_concurrency(client, roles, config.concurrency),
        )
    finally:
        out.close()
    accepted = sum(1 for r in out.records.values() if r["generate"]["status"] == "accepted")
    rounds = [
        len(r["generate"]["rounds"])
        for r in out.records.values()
        if r["generate"]["status"] == "accepted"
    ]
    return summarize(
        "generate",
        out,
        n,
        client,
        started,
        accepted=accepted,
        mean_rounds_to_accept=(sum(rounds) / len(rounds)) if rounds else None,
    )
