"""The dataset rows, the summary and the `--dry-run` estimate of `refusalkit synth`.

The summary's `per_selected_item` block (calls and tokens spent per item that made it into
the dataset, over every attempt, duplicate and failure) is what the estimate scales up:
`refusalkit synth --dry-run -o DIR` over a finished pilot run extrapolates its measured
costs to the requested size.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING, Any

from refusalkit.synth.plan import MAX_TOKENS, SynthConfig, instruction_request, plan_item
from refusalkit.synth.plan import response_request as _response_request

if TYPE_CHECKING:
    from refusalkit.llm.config import Endpoint
    from refusalkit.synth.run import Selection
    from refusalkit.synth.store import RunState

#: assumed output tokens per accepted call when nothing was measured yet (JSON included)
ASSUMED_OUTPUT = {"instruction": 70, "refusal": 80, "compliance": 230}
#: assumed calls per accepted answer (retries of malformed output)
ASSUMED_ATTEMPTS = 1.05


def dataset_rows(cfg: SynthConfig, state: RunState, sel: Selection) -> list[dict[str, Any]]:
    """Two rows per selected item (refusal, then the compliant negative), categories in order."""
    rows: list[dict[str, Any]] = []
    kinds = ("refusal", "compliance") if cfg.negatives else ("refusal",)
    for cat in cfg.categories:
        for iid in sel.selected[cat]:
            ins = state.instructions[iid]
            for kind in kinds:
                resp = state.responses[f"{iid}:{kind}"]
                rows.append({
                    "id": resp["id"], "item": iid, "instruction": ins["instruction"],
                    "system": ins.get("system"), "response": resp["response"],
                    "category": cat if kind == "refusal" else "not_refusal",
                    "behavior": resp["behavior"], "style": resp.get("style"),
                    "topic": ins["topic"], "phrasing": ins["phrasing"],
                    "instruction_category": cat,
                    "provenance": {
                        "generator": "refusalkit synth", "endpoint": resp["endpoint"],
                        "model": resp["model"], "template_version": resp["template_version"],
                        "instruction_key": ins["key"], "response_key": resp["key"],
                    },
                })  # fmt: skip
    return rows


def _spent(rows: Any) -> Counter[str]:
    total: Counter[str] = Counter()
    for row in rows:
        total.update(row.get("spent") or {})
    return total


def build_summary(
    cfg: SynthConfig, state: RunState, sel: Selection, planned: dict[str, int]
) -> dict[str, Any]:
    """Counts per category and per stage; cost totals over the whole folder."""
    per_cat: dict[str, dict[str, Any]] = {}
    fail_reasons: Counter[str] = Counter()
    for (_iid, stage), row in state.final_failures.items():
        fail_reasons[f"{stage}: {row['reason']}"] += 1
    for cat in cfg.categories:
        ins = [r for r in state.instructions.values() if r["category"] == cat]
        resp = [r for r in state.responses.values() if r["category"] == cat]
        fails = Counter(s for (i, s) in state.final_failures if i.rsplit(":", 1)[0] == cat)
        dups = Counter(k for i, (k, _) in sel.duplicates.items() if i.rsplit(":", 1)[0] == cat)
        styles = Counter(state.responses[f"{i}:refusal"]["style"] for i in sel.selected[cat])
        per_cat[cat] = {
            "planned_items": planned.get(cat, 0), "instructions": len(ins),
            "instruction_failures": fails["instruction"], "duplicates_exact": dups["exact"],
            "duplicates_near": dups["near"], "kept_instructions": len(sel.kept.get(cat, [])),
            "refusals": sum(r["kind"] == "refusal" for r in resp),
            "refusal_failures": fails["refusal"],
            "compliances": sum(r["kind"] == "compliance" for r in resp),
            "compliance_failures": fails["compliance"],
            "duplicate_responses": sum(1 for r in sel.response_dups if r.startswith(cat + ":")),
            "complete": len(sel.complete[cat]), "selected": len(sel.selected[cat]),
            "shortfall": max(0, cfg.per_category - len(sel.selected[cat])),
            "pending_retry": sel.pending.get(cat, 0), "styles": dict(sorted(styles.items())),
        }  # fmt: skip
    stages: dict[str, dict[str, Any]] = {}
    for stage in ("instruction", "refusal", "compliance"):
        ok = (
            [r for r in state.instructions.values()]
            if stage == "instruction"
            else [r for r in state.responses.values() if r["kind"] == stage]
        )
        failed = [r for (i, s), r in state.final_failures.items() if s == stage]
        spent = _spent(ok) + _spent(failed)
        stages[stage] = {"accepted": len(ok), "failed": len(failed), **dict(spent)}
    selected = sum(len(v) for v in sel.selected.values())
    totals = sum((Counter({k: v for k, v in s.items() if k not in ("accepted", "failed")})
                  for s in stages.values()), Counter())  # fmt: skip
    per_item = {k: round(v / selected, 2) for k, v in totals.items()} if selected else {}
    return {
        "per_category_target": cfg.per_category,
        "rows": selected * (2 if cfg.negatives else 1),
        "selected_items": selected,
        "shortfall": {c: v["shortfall"] for c, v in per_cat.items() if v["shortfall"]},
        "categories": per_cat,
        "stages": stages,
        "totals": dict(totals),
        "per_selected_item": per_item,
        "failure_reasons": dict(fail_reasons.most_common()),
        "dedup": {"backend": cfg.dedup_backend, "threshold": cfg.dedup_threshold},
        "template_version": cfg.templates.version,
    }


def estimate(
    cfg: SynthConfig, endpoint: Endpoint, measured: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Calls and tokens a run of `cfg` needs, without calling anything.

    With `measured` (the summary of a pilot run), its calls and tokens per selected item,
    over every attempt, duplicate and failure, are scaled to the requested size. Without
    it, input tokens come from rendering the real prompts (~4 characters a token), output
    tokens from `ASSUMED_OUTPUT`, with `ASSUMED_ATTEMPTS` calls per answer and 5% of the
    instructions lost to de-duplication.
    """
    target = cfg.per_category * len(cfg.categories)
    stages = ["instruction", "refusal"] + (["compliance"] if cfg.negatives else [])
    out: dict[str, Any] = {
        "rows": target * (2 if cfg.negatives else 1), "items": target, "stages": {},
        "endpoint": endpoint.name, "model": endpoint.model,
    }  # fmt: skip
    pilot = measured or {}
    if pilot.get("selected_items") and pilot.get("stages"):
        scale = target / pilot["selected_items"]
        planned = sum(c.get("planned_items", 0) for c in pilot.get("categories", {}).values())
        out["items"] = round(planned * scale)
        out["source"] = (
            f"measured: pilot of {pilot['selected_items']} items on {pilot.get('endpoint')} "
            f"({pilot.get('model')})"
        )
        for stage in stages:
            m = pilot["stages"].get(stage) or {}
            calls = m.get("calls", 0) * scale
            out["stages"][stage] = _stage(
                calls, m.get("input_tokens", 0) * scale, m.get("output_tokens", 0) * scale
            )
    else:
        items = math.ceil(target * (1 + cfg.overgenerate))
        out["items"], out["source"] = items, "assumed (no pilot run in the output folder)"
        sample = [plan_item(cfg, c, i) for c in cfg.categories for i in range(20)]
        filler = " ".join(["word"] * 45)  # a typical instruction length
        for stage in stages:
            if stage == "instruction":
                reqs = [instruction_request(cfg, it, 0) for it in sample]
                asked = items
            else:
                reqs = [_response_request(cfg, it, stage, filler, None, 0) for it in sample]
                asked = items * 0.95
            chars = sum(len(m["content"]) for r in reqs for m in r.final_messages())
            calls = asked * ASSUMED_ATTEMPTS
            out_tok = min(ASSUMED_OUTPUT[stage], cfg.max_tokens.get(stage, MAX_TOKENS[stage]))
            out["stages"][stage] = _stage(calls, calls * chars / len(reqs) / 4, calls * out_tok)
    out["calls"] = sum(s["calls"] for s in out["stages"].values())
    out["input_tokens"] = sum(s["input_tokens"] for s in out["stages"].values())
    out["output_tokens"] = sum(s["output_tokens"] for s in out["stages"].values())
    out["cost"] = endpoint.cost(out["input_tokens"], out["output_tokens"])
    return out


def _stage(calls: float, tin: float, tout: float) -> dict[str, Any]:
    return {
        "calls": round(calls), "input_tokens": round(tin), "output_tokens": round(tout),
        "input_tokens_per_call": round(tin / calls) if calls else 0,
        "output_tokens_per_call": round(tout / calls) if calls else 0,
    }  # fmt: skip
