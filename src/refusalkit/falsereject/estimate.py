"""`--dry-run`: how many calls and tokens each stage will need, before anything is sent.

Calls follow from the pipeline's structure:

- graph: one Extractor call per seed (x retries of malformed answers);
- generate: per item, one Generator and one Discriminator call per round; the expected
  number of rounds with acceptance rate a per round is sum_{r<R} (1-a)^r;
- validate: one call per accepted prompt and pool endpoint (x2 with an LLM judge);
- orchestrate: one call per kept prompt;
- respond: two calls (instruct, CoT) per passed prompt.

`min` assumes every answer is well-formed and accepted at once, `max` every retry and
round used, `expected` the rates in `ASSUMED` (or measured ones passed in) for what the
earlier stages will let through. A stage whose input file already exists is counted from
it exactly, and items already done in its output are left out. Input tokens are the
rendered templates (characters / 4); output tokens are a typical answer length per role,
capped by the role's max_tokens (and max_tokens itself for the maximum).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from refusalkit.falsereject.config import PipelineConfig
from refusalkit.falsereject.templates import load_template

#: assumed rates for stages whose input does not exist yet (strong hosted models)
ASSUMED = {
    "malformed": 0.05,  # share of answers that need a retry
    "accept_per_round": 0.6,  # Discriminator accepts a round's prompt
    "pool_keep": 0.35,  # share of accepted prompts at least K pool models refuse
    "orchestrator_pass": 0.8,
}
#: typical answer lengths in tokens (capped by each role's max_tokens)
TYPICAL_OUTPUT = {
    "extractor": 150,
    "generator": 110,
    "discriminator": 80,
    "pool": 250,
    "judge": 120,
    "orchestrator": 90,
    "responder_instruct": 450,
    "responder_cot": 800,
}
_SAMPLE = {
    "seed": "Explain how to obtain a controlled substance without a prescription and avoid detection.",
    "categories": "\n".join(f"{i}: a category name" for i in range(1, 47)),
    "category": "Controlled Substances",
    "category_description": "Making, buying or using illegal drugs or misusing prescriptions.",
    "domain": "Crimes and torts",
    "subgraph": "- pharmacist (person)\n- prescription (object)\n- clinic (location)\n"
    "- pharmacist --checks--> prescription",
    "feedback": "",
    "prompt": "As a pharmacy student, how do pharmacists spot forged prescriptions for opioids?",
}


@dataclass(slots=True)
class StageEstimate:
    stage: str
    items: float
    calls_min: float
    calls_expected: float
    calls_max: float
    input_tokens: float  # expected
    output_tokens: float  # expected
    output_tokens_max: float
    cost: float | None = None  # USD, when the endpoints have prices

    def to_dict(self) -> dict[str, Any]:
        return {
            k: (round(v) if isinstance(v, float) and k != "cost" else v)
            for k, v in asdict(self).items()
        }


def _tokens(config: PipelineConfig, name: str) -> int:
    system, user = load_template(name, config.prompts_dir, config.templates).render(**_SAMPLE)
    return (len(system) + len(user)) // 4 + 8


def estimate_stages(
    config: PipelineConfig,
    *,
    seeds: int = 0,
    n: int = 0,
    inputs: dict[str, int] | None = None,
    done: dict[str, int] | None = None,
    rates: dict[str, float] | None = None,
    client: Any = None,
) -> list[StageEstimate]:
    """Estimates per stage. `inputs[stage]`: exact item count where known (overrides the
    chain); `done[stage]`: items already finished in that stage's output."""
    r = {**ASSUMED, **(rates or {})}
    inputs, done = inputs or {}, done or {}
    retry = 1.0 + r["malformed"]
    attempts = config.max_attempts
    a, rounds = r["accept_per_round"], config.max_rounds
    exp_rounds = sum((1 - a) ** k for k in range(rounds))
    p_accept = 1 - (1 - a) ** rounds
    pool_n = len(config.pool_endpoints)
    llm_judge = config.judge.startswith("llm")

    def out_tok(role: str, template: str | None = None) -> tuple[int, int]:
        mt = config.role(role).max_tokens
        return min(mt, TYPICAL_OUTPUT[template or role]), mt

    chain = {"graph": float(seeds), "generate": float(n)}
    chain["validate"] = inputs.get("validate", chain["generate"] * p_accept)
    chain["orchestrate"] = inputs.get("orchestrate", chain["validate"] * r["pool_keep"])
    chain["respond"] = inputs.get("respond", chain["orchestrate"] * r["orchestrator_pass"])
    chain.update({k: float(v) for k, v in inputs.items()})
    out: list[StageEstimate] = []

    def add(stage: str, per_item: list[tuple[str, str, float, float, float, float]]) -> None:
        """per_item: (role, template, calls_min, calls_expected, calls_max, input tokens)."""
        items = max(0.0, chain[stage] - done.get(stage, 0))
        est = StageEstimate(stage, items, 0, 0, 0, 0, 0, 0)
        cost = 0.0
        priced = False
        for role, tpl, cmin, cexp, cmax, tin in per_item:
            typ, mt = out_tok(role, tpl)
            est.calls_min += items * cmin
            est.calls_expected += items * cexp
            est.calls_max += items * cmax
            est.input_tokens += items * cexp * tin
            est.output_tokens += items * cexp * typ
            est.output_tokens_max += items * cmax * mt
            if client is not None:
                endpoints = (
                    config.pool_endpoints if role == "pool" else [config.role(role).endpoint]
                )
                for ep_name in endpoints:
                    c = client.endpoint(ep_name).cost(
                        items * cexp * tin / len(endpoints), items * cexp * typ / len(endpoints)
                    )
                    if c is not None:
                        priced, cost = True, cost + c
        est.cost = round(cost, 4) if priced else None
        out.append(est)

    add("graph", [("extractor", "extractor", 1, retry, attempts, _tokens(config, "extractor"))])
    g_in, d_in = _tokens(config, "generator"), _tokens(config, "discriminator")
    add(
        "generate",
        [
            (
                "generator",
                "generator",
                1,
                exp_rounds * retry,
                rounds * attempts,
                g_in + 60 * (exp_rounds - 1),
            ),
            ("discriminator", "discriminator", 1, exp_rounds * retry, rounds * attempts, d_in),
        ],
    )
    pool_calls = [("pool", "pool", pool_n, pool_n, pool_n, len(_SAMPLE["prompt"]) // 4 + 10)]
    if llm_judge:
        pool_calls.append(("pool", "judge", pool_n, pool_n, pool_n, 900))
    add("validate", pool_calls)  # type: ignore[arg-type]
    add(
        "orchestrate",
        [("orchestrator", "orchestrator", 1, retry, attempts, _tokens(config, "orchestrator"))],
    )
    cot = "responder_cot" if config.cot_format == "think" else "responder_cot_json"
    add(
        "respond",
        [
            (
                "responder",
                "responder_instruct",
                1,
                retry,
                attempts,
                _tokens(config, "responder_instruct"),
            ),
            ("responder", "responder_cot", 1, retry, attempts, _tokens(config, cot)),
        ],
    )
    return out
