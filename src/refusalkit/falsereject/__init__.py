"""FalseReject-style generation of over-refusal data: prompts that look harmful but are
benign, that real models refuse, with context-aware answers to train on.

Stages (each resumable, each reading the previous stage's JSONL; see docs/falsereject.md):

1. `extract.extract_graph`: entities and relations of toxic seed prompts -> entity graph
2. `generate.generate_prompts`: Generator and Discriminator rounds on sampled sub-graphs
3. `pool.validate_prompts`: keep prompts that >= K pool models refuse
4. `orchestrate.orchestrate_prompts`: final LLM check with a rationale
5. `respond.respond_prompts`: instruct and CoT answers in the four-part structure
6. `export.export_dataset`: FalseReject schema + provenance, SFT chat files, dedup, stats

`pipeline.run_pipeline` runs them all in one folder. Every call goes through
`refusalkit.llm.LLMClient` (logged, cached, concurrent), so a rerun pays nothing twice.
"""

from __future__ import annotations

from refusalkit.core.lazy import lazy_exports

_EXPORTS = {
    "PipelineConfig": "refusalkit.falsereject.config",
    "RoleConfig": "refusalkit.falsereject.config",
    "EntityGraph": "refusalkit.falsereject.graph",
    "SubgraphSampler": "refusalkit.falsereject.graph",
    "build_graph": "refusalkit.falsereject.graph",
    "read_seeds": "refusalkit.falsereject.extract",
    "extract_graph": "refusalkit.falsereject.extract",
    "generate_prompts": "refusalkit.falsereject.generate",
    "resolve_categories": "refusalkit.falsereject.generate",
    "validate_prompts": "refusalkit.falsereject.pool",
    "orchestrate_prompts": "refusalkit.falsereject.orchestrate",
    "respond_prompts": "refusalkit.falsereject.respond",
    "export_dataset": "refusalkit.falsereject.export",
    "run_pipeline": "refusalkit.falsereject.pipeline",
    "compute_yields": "refusalkit.falsereject.pipeline",
    "estimate_stages": "refusalkit.falsereject.estimate",
    "demo_seeds_path": "refusalkit.falsereject.extract",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
