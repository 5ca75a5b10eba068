"""Synthetic refusal data per taxonomy category (`refusalkit synth`).

    from refusalkit.synth import make_config, run_synth
    cfg = make_config(per_category=100, endpoint="gpt")
    summary = run_synth(cfg, "synth_out")          # synth_out/data.jsonl

An LLM writes user instructions that call for each kind of refusal (seeded by the
taxonomy's definitions and examples, varied by topic, phrasing and sample index), then a
refusal of each instruction in a rotating style and a compliant reply as the negative.
Answers are validated strictly, de-duplicated with `core.diversity`, balanced per category
and written with provenance; everything goes through the LLM layer (logged, cached,
concurrent), and a run folder resumes after a crash without asking anything twice.
See docs/synth.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from refusalkit.core.errors import ConfigError

__all__ = ["arun_synth", "estimate", "make_config", "run_synth"]


def make_config(
    per_category: int,
    *,
    categories: list[str] | None = None,
    styles: list[str] | None = None,
    topics: str | Path | None = None,
    templates: str | Path | None = None,
    taxonomy: str | Path | None = None,
    max_tokens: int | None = None,
    **kw: Any,
) -> Any:
    """A validated `SynthConfig`: unknown categories or styles are errors naming the flag.

    `categories` default to every refusal id of the taxonomy (the 15 besides not_refusal,
    whose rows are the negatives); `max_tokens` caps every stage's default.
    """
    from refusalkit.synth.plan import MAX_TOKENS, SynthConfig
    from refusalkit.synth.templates import load_templates, load_topics
    from refusalkit.taxonomy import load_taxonomy

    if per_category < 0:
        raise ConfigError("--per-category must be 0 or more", hint="--per-category 100")
    tax = load_taxonomy(taxonomy) if taxonomy else load_taxonomy()
    tpl = load_templates(templates)
    cats = list(dict.fromkeys(categories or tax.refusal_ids))
    bad = [c for c in cats if c not in tax.refusal_ids]
    if bad:
        raise ConfigError(
            f"unknown or non-refusal categories: {', '.join(bad)}",
            hint=f"--categories takes refusal ids: {', '.join(tax.refusal_ids)}",
        )
    chosen = list(dict.fromkeys(styles or tpl.styles))
    bad = [s for s in chosen if s not in tpl.styles]
    if bad:
        raise ConfigError(
            f"unknown styles: {', '.join(bad)}", hint=f"--styles takes: {', '.join(tpl.styles)}"
        )
    mt = dict(MAX_TOKENS)
    if max_tokens is not None:
        if max_tokens < 16:
            raise ConfigError("--max-tokens must be at least 16", hint="--max-tokens 256")
        mt = {k: min(v, max_tokens) for k, v in mt.items()}
    if kw.get("detail", "full") not in ("full", "short"):
        raise ConfigError(f"unknown --detail {kw['detail']!r}", hint="--detail full|short")
    check = kw.get("check", "negatives")
    if check not in ("none", "negatives", "both"):
        raise ConfigError(f"unknown --check {check!r}", hint="--check none|negatives|both")
    if kw.get("max_attempts", 3) < 1 or kw.get("max_rounds", 4) < 1:
        raise ConfigError("--max-attempts and --max-rounds must be at least 1")
    return SynthConfig(
        per_category=per_category, categories=cats, styles=chosen, topics=load_topics(topics),
        templates=tpl, taxonomy=tax, max_tokens=mt, **kw,
    )  # fmt: skip


def run_synth(cfg: Any, output: str | Path, **kw: Any) -> dict[str, Any]:
    from refusalkit.synth.run import run_synth as _run

    return _run(cfg, output, **kw)


async def arun_synth(cfg: Any, output: str | Path, **kw: Any) -> dict[str, Any]:
    from refusalkit.synth.run import arun_synth as _arun

    return await _arun(cfg, output, **kw)


def estimate(cfg: Any, endpoint: Any, measured: dict[str, Any] | None = None) -> dict[str, Any]:
    from refusalkit.synth.report import estimate as _estimate

    return _estimate(cfg, endpoint, measured)
