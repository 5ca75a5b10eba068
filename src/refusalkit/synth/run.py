"""The `refusalkit synth` pipeline: rounds of instruction -> de-duplication -> replies.

Each round plans items per category (`plan.plan_item`), asks for the instructions that are
not finished yet, removes exact duplicates (across categories) and near-duplicates (within
a category, `core.diversity`), asks for a refusal and a compliant reply to every kept
instruction, and counts the *complete* items per category. A category that is short of
`per_category` (duplicates, malformed output) gets more items in the next round, sized by
its yield so far. The dataset is the first `per_category` complete items of each category,
in index order, so it is a deterministic function of the stage files: an interrupted run,
resumed, ends exactly where an uninterrupted one would (the response log replays every
answer that was already paid for).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from refusalkit.core.diversity import deduplicate, exact_duplicates, get_embedder, normalize_text
from refusalkit.core.progress import progress
from refusalkit.llm.client import LLMClient
from refusalkit.llm.types import ChatResult
from refusalkit.synth import validate as V
from refusalkit.synth.plan import (
    RESPONSE_KEYS,
    Item,
    SynthConfig,
    instruction_keys,
    instruction_request,
    item_id,
    plan_item,
    response_request,
)
from refusalkit.synth.report import build_summary, dataset_rows
from refusalkit.synth.store import RunFolder, RunState

#: responses longer than this (normalised chars) must not repeat verbatim within a category
RESPONSE_DUP_MIN_CHARS = 120


@dataclass(slots=True)
class _Job:
    item: Item
    stage: str
    instruction: str = ""
    system: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    spent: Counter[str] = field(default_factory=Counter)


class _CachedEmbedder:
    """Embeds each text once per process: rounds re-check the same instructions."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.cache = inner, inner.name, {}

    def encode(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            for t, v in zip(missing, self.inner.encode(missing), strict=True):
                self.cache[t] = v
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        return np.stack([self.cache[t] for t in texts])


@dataclass(slots=True)
class Selection:
    """The outcome of de-duplication and balancing for the current stage files."""

    kept: dict[str, list[str]]  # category -> kept instruction item ids (index order)
    duplicates: dict[str, tuple[str, str]]  # item -> (exact|near, item it duplicates)
    response_dups: set[str]  # response row ids dropped as repeats
    complete: dict[str, list[str]]
    selected: dict[str, list[str]]
    pending: dict[str, int]  # items with a transport failure to retry


class SynthRun:
    """One invocation over a run folder (see `run_synth`)."""

    def __init__(self, cfg: SynthConfig, folder: RunFolder, client: LLMClient, local: bool,
                 show_progress: bool | None) -> None:  # fmt: skip
        self.cfg, self.folder, self.client, self.local = cfg, folder, client, local
        self.show_progress = show_progress
        self.check = V.LabelCheck(cfg.check)
        self.embedder: Any = None
        if cfg.dedup_backend not in (None, "none"):
            self.embedder = _CachedEmbedder(get_embedder(cfg.dedup_backend))
        self.state = RunState()
        self.new_rows = Counter[str]()

    # ------------------------------------------------------------ stages
    def _request(self, job: _Job, attempt: int) -> Any:
        if job.stage == "instruction":
            req = instruction_request(self.cfg, job.item, attempt, local=self.local)
        else:
            req = response_request(self.cfg, job.item, job.stage, job.instruction, job.system,
                                   attempt, local=self.local)  # fmt: skip
        req.meta = job
        return req

    def _accept(self, job: _Job, res: ChatResult) -> tuple[dict[str, Any] | None, str]:
        item, cfg = job.item, self.cfg
        keys = instruction_keys(cfg, item.category) if job.stage == "instruction" else RESPONSE_KEYS
        fields, problem = V.parse_fields(res, keys)
        if fields is None:
            return None, problem
        common = {
            "sample": res.request.sample, "attempts": len(job.attempts) + 1, "key": res.key,
            "endpoint": res.endpoint, "model": res.model,
            "template_version": cfg.templates.version, "spent": dict(job.spent),
        }  # fmt: skip
        if job.stage == "instruction":
            seeds = [e.instruction for e in cfg.taxonomy[item.category].examples]
            problem = V.check_instruction(fields, seeds)
            if problem:
                return None, problem
            return {
                "id": item.id, "category": item.category, "index": item.index,
                "topic": item.topic, "phrasing": item.phrasing, "examples": list(item.examples),
                "instruction": fields["instruction"], "system": fields.get("system"), **common,
            }, ""  # fmt: skip
        response = fields["response"]
        problem = V.check_response(response, job.instruction) or self.check(
            job.stage, job.instruction, response, job.system
        )
        if problem:
            return None, problem
        refusal = job.stage == "refusal"
        style = cfg.templates.styles[item.style] if refusal else None
        return {
            "id": f"{item.id}:{job.stage}", "item": item.id, "kind": job.stage,
            "category": item.category, "style": style.id if style else None,
            "behavior": style.behavior if style else "full_compliance",
            "response": response, **common,
        }, ""  # fmt: skip

    def _failure(self, job: _Job, final: bool, reason: str) -> dict[str, Any]:
        return {
            "id": f"{job.item.id}:{job.stage}", "item": job.item.id, "stage": job.stage,
            "category": job.item.category, "final": final, "reason": reason,
            "attempts": job.attempts, "spent": dict(job.spent), "time": time.time(),
        }  # fmt: skip

    async def run_jobs(self, jobs: list[_Job], label: str) -> None:
        """Ask for every job; retry malformed answers with the next sample index."""
        if not jobs:
            return
        with (
            self.folder.writers() as out,
            progress(label, total=len(jobs), enabled=self.show_progress) as advance,
        ):
            pending = jobs
            for attempt in range(self.cfg.max_attempts):
                retry: list[_Job] = []
                async for res in self.client.chat_many(self._request(j, attempt) for j in pending):
                    job: _Job = res.meta
                    job.spent.update(calls=1, input_tokens=res.input_tokens or 0,
                                     output_tokens=res.output_tokens or 0)  # fmt: skip
                    if not res.ok:
                        job.attempts.append({"sample": attempt, "error": res.error,
                                             "error_type": res.error_type})  # fmt: skip
                        row = self._failure(job, False, f"request failed: {res.error_type}")
                        out["failure"].write(row)
                        self.state.transient[(job.item.id, job.stage)] = row
                        self.new_rows["transient"] += 1
                        advance()
                        continue
                    row, problem = self._accept(job, res)
                    if row is not None:
                        if job.stage == "instruction":
                            out["instruction"].write(row)
                            self.state.instructions[row["id"]] = row
                        else:
                            out["response"].write(row)
                            self.state.responses[row["id"]] = row
                        self.new_rows[job.stage] += 1
                        self.state.transient.pop((job.item.id, job.stage), None)
                        advance()
                    else:
                        job.attempts.append({
                            "sample": attempt, "problem": problem, "raw": (res.text or "")[:4000],
                            "finish_reason": res.finish_reason, "key": res.key,
                        })  # fmt: skip
                        if attempt + 1 < self.cfg.max_attempts:
                            retry.append(job)
                        else:
                            row = self._failure(job, True, problem)
                            out["failure"].write(row)
                            self.state.final_failures[(job.item.id, job.stage)] = row
                            self.state.transient.pop((job.item.id, job.stage), None)
                            self.new_rows["failed"] += 1
                            advance()
                    if not res.cached:
                        for w in out.values():
                            w.flush()
                pending = retry
                if not pending:
                    break

    # ------------------------------------------------------------ selection
    def select(self, planned: dict[str, int]) -> Selection:
        cfg, st = self.cfg, self.state
        order = {c: i for i, c in enumerate(cfg.categories)}
        rows = [
            r for r in st.instructions.values()
            if r["category"] in order and r["index"] < planned.get(r["category"], 0)
        ]  # fmt: skip
        rows.sort(key=lambda r: (r["index"], order[r["category"]]))
        duplicates: dict[str, tuple[str, str]] = {}
        first = exact_duplicates([r["instruction"] for r in rows])
        survivors: dict[str, list[dict[str, Any]]] = {c: [] for c in cfg.categories}
        for r, j in zip(rows, first, strict=True):
            if j >= 0:
                duplicates[r["id"]] = ("exact", rows[j]["id"])
            else:
                survivors[r["category"]].append(r)
        kept: dict[str, list[str]] = {}
        for cat, items in survivors.items():
            items.sort(key=lambda r: r["index"])
            keep = [True] * len(items)
            if self.embedder is not None and len(items) > 1:
                d = deduplicate([r["instruction"] for r in items], backend=self.embedder,
                                threshold=cfg.dedup_threshold)  # fmt: skip
                for i in np.flatnonzero(~d.keep):
                    keep[i] = False
                    duplicates[items[i]["id"]] = (
                        d.kind[i] or "near",
                        items[d.duplicate_of[i]]["id"],
                    )
            kept[cat] = [r["id"] for r, k in zip(items, keep, strict=True) if k]
        response_dups: set[str] = set()
        complete: dict[str, list[str]] = {}
        pending: dict[str, int] = {}
        for cat in cfg.categories:
            seen: dict[str, set[str]] = {"refusal": set(), "compliance": set()}
            complete[cat] = []
            kinds = ("refusal", "compliance") if cfg.negatives else ("refusal",)
            for iid in kept[cat]:
                ok = True
                for kind in kinds:
                    row = st.responses.get(f"{iid}:{kind}")
                    if row is None:
                        ok = False
                        continue
                    key = normalize_text(row["response"])
                    if len(key) > RESPONSE_DUP_MIN_CHARS and key in seen[kind]:
                        response_dups.add(row["id"])
                        ok = False
                    seen[kind].add(key)
                if ok:
                    complete[cat].append(iid)
            pending[cat] = sum(
                1 for (iid, _stage) in st.transient
                if iid.rsplit(":", 1)[0] == cat and int(iid.rsplit(":", 1)[1]) < planned.get(cat, 0)
            )  # fmt: skip
        selected = {c: complete[c][: cfg.per_category] for c in cfg.categories}
        return Selection(kept, duplicates, response_dups, complete, selected, pending)

    # ------------------------------------------------------------ rounds
    async def run(self) -> tuple[Selection, dict[str, int], int]:
        cfg = self.cfg
        self.state = self.folder.read_state()
        n = cfg.per_category
        planned = {c: math.ceil(n * (1 + cfg.overgenerate)) if n else 0 for c in cfg.categories}
        rounds = 0
        sel = self.select(planned)
        for rounds in range(1, cfg.max_rounds + 1):
            jobs = [
                _Job(plan_item(cfg, c, i), "instruction")
                for c in cfg.categories for i in range(planned[c])
                if not self.state.done(item_id(c, i), "instruction")
            ]  # fmt: skip
            await self.run_jobs(jobs, f"synth round {rounds}: instructions")
            sel = self.select(planned)
            kinds = ("refusal", "compliance") if cfg.negatives else ("refusal",)
            jobs = []
            for c in cfg.categories:
                for iid in sel.kept[c]:
                    row = self.state.instructions[iid]
                    for kind in kinds:
                        if not self.state.done(iid, kind):
                            item = plan_item(cfg, c, row["index"])
                            jobs.append(_Job(item, kind, row["instruction"], row.get("system")))
            await self.run_jobs(jobs, f"synth round {rounds}: replies")
            sel = self.select(planned)
            grow = {}
            for c in cfg.categories:
                need = n - len(sel.complete[c]) - sel.pending[c]
                if need > 0:
                    tried = max(1, planned[c] - sel.pending[c])
                    rate = max(len(sel.complete[c]) / tried, 0.1)
                    grow[c] = min(math.ceil(need * (1 + cfg.overgenerate) / rate), 10 * need + 5)
            if not grow:
                break
            if rounds < cfg.max_rounds:
                for c, extra in grow.items():
                    planned[c] += extra
        return sel, planned, rounds


async def arun_synth(
    cfg: SynthConfig,
    output: str | Path,
    *,
    client: LLMClient | None = None,
    overwrite: bool = False,
    show_progress: bool | None = None,
) -> dict[str, Any]:
    """Generate (or resume) a synthetic refusal dataset in the folder `output`.

    Returns the summary that is also written to `output/summary.json`.
    """
    started = time.monotonic()
    own = client is None
    client = client or LLMClient()
    try:
        ep = client.endpoint(cfg.endpoint)
        cfg.endpoint = ep.name
        folder = RunFolder(output)
        folder.prepare(cfg.identity(ep.name, ep.model), config_dict(cfg), overwrite=overwrite)
        runner = SynthRun(cfg, folder, client, ep.is_local, show_progress)
        calls0, cached0 = client.stats.calls, client.stats.cached
        sel, planned, rounds = await runner.run()
        path = folder.write_dataset(dataset_rows(cfg, runner.state, sel))
        summary = build_summary(cfg, runner.state, sel, planned)
        summary.update(
            output=str(path), folder=str(folder.path), endpoint=ep.name,
            model=ep.model or next((r["model"] for r in runner.state.instructions.values()), ""),
            rounds=rounds,
            this_run={
                "calls": client.stats.calls - calls0, "replayed": client.stats.cached - cached0,
                "new_rows": dict(runner.new_rows), "seconds": round(time.monotonic() - started, 2),
            },
        )  # fmt: skip
        folder.write_summary(summary)
        return summary
    finally:
        if own:
            await client.aclose()


def config_dict(cfg: SynthConfig) -> dict[str, Any]:
    """The non-identity settings, recorded in synth.json for the record."""
    return {
        "per_category": cfg.per_category, "categories": cfg.categories, "styles": cfg.styles,
        "topics": len(cfg.topics), "negatives": cfg.negatives, "max_rounds": cfg.max_rounds,
        "overgenerate": cfg.overgenerate, "dedup_backend": cfg.dedup_backend,
        "dedup_threshold": cfg.dedup_threshold, "check": cfg.check,
        "templates": cfg.templates.source,
    }  # fmt: skip


def run_synth(cfg: SynthConfig, output: str | Path, **kw: Any) -> dict[str, Any]:
    """Synchronous `arun_synth`."""
    from refusalkit.llm.runtime import run_sync

    return run_sync(arun_synth(cfg, output, **kw))
