"""Stage 1: entity extraction from toxic seed prompts, merged into the entity graph.

Seeds are read from any dataset the readers support (HarmBench, AdvBench, StrongREJECT,
Do-Not-Answer, OR-Bench-Toxic, or a file with a prompt column) as `prompt_only` rows.
For each seed the Extractor returns entities by type, relations and the seed's FalseReject
category, as JSON validated against the schema; relations whose ends are not among the
listed entities, and self-relations, are dropped and listed in the record
(`dropped_relations`), never silently. A seed without a single entity is malformed.

The per-seed records go to `<graph>.extract.jsonl` (append-only, resumable); the graph
JSON is rebuilt from all successful records at the end of every run.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from refusalkit.core.errors import DataError
from refusalkit.falsereject.agents import Agent, describe_endpoint
from refusalkit.falsereject.config import PipelineConfig, fingerprint
from refusalkit.falsereject.graph import EntityGraph, build_graph, node_key
from refusalkit.falsereject.schema import ENTITY_TYPE_NAMES, ENTITY_TYPES, extractor_schema
from refusalkit.falsereject.stages import (
    StageOutput,
    StageSummary,
    default_concurrency,
    run_items,
    summarize,
)
from refusalkit.falsereject.templates import load_template
from refusalkit.taxonomy import FalseRejectTaxonomy, load_falsereject_taxonomy

#: seed-file columns that carry the seed's own safety label, first found wins
LABEL_FIELDS = (
    "category",
    "SemanticCategory",
    "semantic_category",
    "risk_area",
    "intents",
    "types_of_harm",
)


@dataclass(slots=True)
class Seed:
    id: str
    prompt: str
    label: str | None = None
    file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "prompt": self.prompt, "label": self.label, "file": self.file}


def read_seeds(
    paths: Sequence[str | Path], *, limit: int | None = None, **reader_kw: Any
) -> list[Seed]:
    """Seed prompts from dataset files (`read_exchanges(..., shape="prompt_only")`).

    Rows with the same id keep the first; empty prompts are a data error (or skipped into
    the rejects file with `skip_bad`).
    """
    from refusalkit.readers import read_exchanges

    reader_kw.setdefault("shape", "prompt_only")
    seeds: dict[str, Seed] = {}
    with read_exchanges([str(p) for p in paths], **reader_kw) as stream:
        for ex in stream:
            if not ex.prompt.strip():
                src = ex.source
                raise DataError(
                    "the seed prompt is empty", field="prompt", file=src.file, line=src.line,
                    row=src.row, hint="fill in the prompt or remove the row",
                )  # fmt: skip
            label = next((ex.metadata[k] for k in LABEL_FIELDS if ex.metadata.get(k)), None)
            if isinstance(label, list):
                label = ",".join(str(x) for x in label)
            seeds.setdefault(
                ex.id, Seed(ex.id, ex.prompt, str(label) if label else None, ex.source.file)
            )
            if limit is not None and len(seeds) >= limit:
                break
    return list(seeds.values())


def extractions_path(graph_path: str | Path) -> Path:
    p = Path(graph_path)
    return p.with_name(p.name.removesuffix(".json") + ".extract.jsonl")


def categories_text(tax: FalseRejectTaxonomy) -> str:
    return "\n".join(f"{c.id}: {c.name}" for c in tax.categories)


def normalize_extraction(data: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """Clean entity names, de-duplicate, check relations. (cleaned, None) or (None, problem)."""
    entities: list[dict[str, str]] = []
    seen: set[str] = set()
    for kind in ENTITY_TYPES:
        for name in data.get(kind) or ():
            name = " ".join(str(name).split())
            key = node_key(name)
            if key and key not in seen:
                seen.add(key)
                entities.append({"name": name, "type": ENTITY_TYPE_NAMES[kind]})
    if not entities:
        return None, "no entities"
    relations, dropped = [], []
    for triple in data.get("relations") or ():
        src, rel, dst = (" ".join(str(x).split()) for x in triple)
        ks, kd = node_key(src), node_key(dst)
        if ks not in seen or kd not in seen:
            dropped.append({"triple": [src, rel, dst], "reason": "an end is not a listed entity"})
        elif ks == kd:
            dropped.append({"triple": [src, rel, dst], "reason": "self-relation"})
        elif not rel:
            dropped.append({"triple": [src, rel, dst], "reason": "empty relation"})
        else:
            relations.append({"source": src, "relation": rel, "target": dst})
    cleaned = {"entities": entities, "relations": relations, "dropped_relations": dropped}
    return {**cleaned, "category_id": int(data["category_id"])}, None


class Extraction:
    """The Extractor agent, its schema and the stage's job fingerprint."""

    def __init__(self, config: PipelineConfig, client: Any, tax: FalseRejectTaxonomy) -> None:
        rc = config.role("extractor")
        self.tax = tax
        ep = client.endpoint(rc.endpoint)
        tpl = load_template("extractor", config.prompts_dir, config.templates)
        self.agent = Agent(
            "extractor", tpl, rc, max_attempts=config.max_attempts, local=ep.is_local
        )
        self.schema = extractor_schema(tax.ids, local=ep.is_local, max_tokens=rc.max_tokens)
        self.categories = categories_text(tax)
        self.job = fingerprint(
            "graph",
            tpl.digest,
            describe_endpoint(client, rc.endpoint),
            rc.params(),
            config.max_attempts,
            tax.ids,
        )

    def values(self, seed: Seed) -> dict[str, str]:
        return {"seed": seed.prompt, "categories": self.categories}

    async def run(self, client: Any, seed: Seed) -> dict[str, Any]:
        def check(data: dict[str, Any]) -> str | None:
            return normalize_extraction(data)[1]

        parse = self.agent.json_parser(self.schema, check)
        out = await self.agent.ask(client, self.values(seed), parse, schema=self.schema)
        info: dict[str, Any] = {
            "status": "ok" if out.ok else ("error" if out.failure == "request" else "failed"),
            "attempts": out.attempts,
            "model": out.model,
            "endpoint": out.endpoint,
            "prompt_sha": hashlib.sha256(seed.prompt.encode()).hexdigest()[:16],
        }
        if out.ok:
            cleaned, _ = normalize_extraction(out.data)
            assert cleaned is not None
            cat = self.tax.by_id(cleaned["category_id"])
            info.update(cleaned, category=cat.name)
        else:
            info["failure"] = out.failure_record("extractor")
            info["error"] = out.error
        return {"id": seed.id, "seed": seed.to_dict(), "extract": info}


async def extract_graph(
    seeds: Sequence[Seed],
    graph_path: str | Path,
    config: PipelineConfig,
    client: Any,
    *,
    overwrite: bool = False,
) -> tuple[EntityGraph, StageSummary]:
    """Run stage 1 (resumable) and write the merged graph JSON."""
    started = time.monotonic()
    tax = load_falsereject_taxonomy()
    ext = Extraction(config, client, tax)
    records_path = extractions_path(graph_path)
    out = StageOutput(records_path, "graph", ext.job, overwrite=overwrite)
    try:
        # a seed whose text changed since its record was written is redone
        for seed in seeds:
            rec = out.records.get(seed.id)
            if rec is not None and rec["seed"]["prompt"] != seed.prompt:
                out.done.discard(seed.id)
        todo = [s for s in seeds if s.id not in out.done]
        conc = default_concurrency(client, [config.role("extractor").endpoint], config.concurrency)
        await run_items(
            todo,
            lambda s: ext.run(client, s),
            out,
            description="graph: extract entities",
            total=len(todo),
            concurrency=conc,
        )
    finally:
        out.close()
    wanted = {s.id for s in seeds}
    graph = build_graph([r for i, r in out.records.items() if i in wanted])
    Path(graph_path).parent.mkdir(parents=True, exist_ok=True)
    graph.save(graph_path)
    summary = summarize("graph", out, len(seeds), client, started, graph=graph.stats())
    return graph, summary


def demo_seeds_path() -> Path:
    """The 20 bundled demo seeds (HarmBench, StrongREJECT, AdvBench; MIT; see seeds/README.md)."""
    return Path(__file__).resolve().parent / "seeds" / "demo_seeds.jsonl"
