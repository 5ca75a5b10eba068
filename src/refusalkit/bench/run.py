"""`refusalkit bench`: prompt sets -> every endpoint's answers -> every judge's verdicts.

The run goes through the shared eval core: the registry's items become exchanges whose
metadata carries `dataset`, `category` and `expected`; `evals.generate_endpoints`
writes `generations/<endpoint>.jsonl` (concurrent, logged, cached, resumable: rerun the
same command to finish an interrupted run); `evals.judge_run` writes one
`judgements/<judge>.parquet` per judge and `results.parquet` (all judges, told apart by
`detector`). Re-judging (`rejudge`) reads the saved generations and never calls the
models again.

Judges see the answer only: the LLM layer already moves `reasoning_content` and
`<think>` blocks to `reasoning`, and `AnswerOnly` strips any `<think>` leftovers (e.g.
in generations written elsewhere) before the detector runs; the results' `response`
column holds the same answer-only text.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from refusalkit.bench.datasets import DatasetSpec, Item, resolve_all
from refusalkit.bench.sampling import stratified_sample
from refusalkit.core.errors import ConfigError
from refusalkit.core.models import Exchange, Verdict

KIND = "bench"
#: `--judge classifier` is the bundled learned classifier (`default` everywhere else).
JUDGE_ALIASES = {"classifier": "default"}
EMPTY_ANSWER = "empty answer (nothing left after removing reasoning)"
#: Columns the bench adds to the shared eval columns.
BENCH_COLUMNS = {
    "item_id": "string",
    "model_label": "string",
    "reasoning_chars": "int64",
    "latency": "float64",
    "output_tokens": "int64",
}


@dataclass(slots=True)
class BenchConfig:
    datasets: list[str]
    endpoints: list[Any] = field(default_factory=list)  # names or Endpoint objects
    judges: list[str] = field(default_factory=lambda: ["classifier"])
    samples: int = 1
    limit: int | None = None
    per_category: int | None = None
    seed: int = 0
    max_tokens: int | None = None
    temperature: float | None = None
    system: str | None = None
    cache: bool = True
    overwrite: bool = False
    reader_options: dict[str, Any] = field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        """Request parameters: temperature 0 for one sample, 0.7 for several (unless set)."""
        from refusalkit.evals import request_params

        return request_params(self.samples, self.temperature, self.max_tokens)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["endpoints"] = [getattr(e, "name", e) for e in self.endpoints]
        out["params"] = self.params()
        out["reader_options"] = {k: str(v) for k, v in self.reader_options.items() if v}
        return out


def judge_spec(spec: str) -> str:
    return JUDGE_ALIASES.get(spec, spec)


class AnswerOnly:
    """Wrap a detector so it judges the answer without any `<think>` reasoning left in it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def version(self) -> str:
        return str(getattr(self.inner, "version", ""))

    def predict(self, exchanges: Sequence[Exchange]) -> list[Verdict]:
        cleaned = [replace(ex, response=answer_text(ex.response)) for ex in exchanges]
        todo = [i for i, ex in enumerate(cleaned) if ex.response.strip()]
        verdicts: dict[int, Verdict] = dict(
            zip(todo, self.inner.predict([cleaned[i] for i in todo]), strict=True)
        )
        return [
            verdicts.get(i)
            or Verdict.unjudged(EMPTY_ANSWER, detector=self.name, detector_version=self.version)
            for i in range(len(cleaned))
        ]


def answer_text(text: str | None) -> str:
    from refusalkit.llm.types import split_thinking

    return split_thinking(text or "")[0]


def _extra_values(gen: dict[str, Any]) -> dict[str, Any]:
    from refusalkit.llm.types import split_thinking

    raw = gen.get("response") or gen.get("refusal") or ""
    answer, leftover = split_thinking(raw)
    usage = gen.get("usage") or {}
    return {
        "item_id": gen.get("id"),
        "model_label": gen.get("endpoint"),
        "response": answer,
        "reasoning_chars": len(gen.get("reasoning") or "") + len(leftover or ""),
        "latency": gen.get("latency"),
        "output_tokens": usage.get("output_tokens"),
    }


# ---------------------------------------------------------------------------- items


@dataclass(slots=True)
class LoadedSet:
    spec: DatasetSpec
    total: int
    items: list[Item]

    def describe(self) -> dict[str, Any]:
        cats = sorted({i.category for i in self.items})
        roles = sorted({i.expected for i in self.items})
        return {**self.spec.describe(), "available": self.total, "selected": len(self.items),
                "categories": len(cats), "expected": roles}  # fmt: skip


def load_sets(cfg: BenchConfig) -> list[LoadedSet]:
    """Resolve and load every dataset, then take the seeded stratified sample."""
    out = []
    for spec in resolve_all(cfg.datasets):
        items = spec.load(cfg.reader_options)
        chosen = stratified_sample(
            items, dataset=spec.name, limit=cfg.limit, per_category=cfg.per_category, seed=cfg.seed
        )
        out.append(LoadedSet(spec, len(items), chosen))
    return out


def to_exchanges(sets: Sequence[LoadedSet], system: str | None = None) -> list[Exchange]:
    out = []
    for ls in sets:
        for it in ls.items:
            meta = {"dataset": ls.spec.name, "category": it.category, "expected": it.expected}
            meta.update(it.extra)
            out.append(
                Exchange(
                    id=f"{ls.spec.name}:{it.id}", prompt=it.prompt, system=system, metadata=meta
                )
            )
    return out


# ---------------------------------------------------------------------------- running


def load_judges(specs: Sequence[str]) -> list[tuple[str, AnswerOnly, str]]:
    """(spec, detector, judgement file stem) per judge; the stem is what `judge_run` writes."""
    from refusalkit.detectors.registry import load_detector
    from refusalkit.evals import endpoint_slug

    out = []
    for spec in specs:
        det = AnswerOnly(load_detector(judge_spec(spec)))
        out.append((judge_spec(spec), det, endpoint_slug(det.name)))
    stems = [s for _, _, s in out]
    if len(set(stems)) != len(stems):
        raise ConfigError(f"a judge is listed twice: {list(specs)}", hint="list each --judge once")
    return out


def _judge(
    run_dir: Path, judge: tuple[str, AnswerOnly, str], progress: bool | None
) -> dict[str, Any]:
    from refusalkit.evals import judge_run

    spec, det, stem = judge
    started = time.monotonic()
    judge_run(run_dir, det, extra_columns=BENCH_COLUMNS, extra_values=_extra_values,
              show_progress=progress)  # fmt: skip
    return {"spec": spec, "name": det.name, "file": stem,
            "seconds": round(time.monotonic() - started, 3)}  # fmt: skip


def _merge_lists(old: list[Any], new: list[Any], key: str) -> list[Any]:
    seen = {o[key]: o for o in old}
    for n in new:
        seen[n[key]] = n
    return list(seen.values())


def _stale_judgements(run_dir: Path) -> list[Path]:
    """Judgement files older than the newest generation (the generations grew since)."""
    from refusalkit.evals import generation_files, judgement_files

    gens = generation_files(run_dir)
    newest = max((p.stat().st_mtime_ns for p in gens), default=0)
    return [p for p in judgement_files(run_dir) if p.stat().st_mtime_ns < newest]


def run_bench(
    cfg: BenchConfig,
    run_dir: str | Path,
    *,
    client: Any = None,
    show_progress: bool | None = None,
    command: list[str] | None = None,
) -> dict[str, Any]:
    """Generate, judge and report one benchmark run; returns the final run.json content."""
    from refusalkit.evals import generate_endpoints, merge_judgements
    from refusalkit.reports.results import new_run_info, read_run_json, write_run_json

    if cfg.samples < 1:
        raise ConfigError(f"--samples must be at least 1, got {cfg.samples}", hint="--samples 1")
    if not cfg.judges:
        raise ConfigError("no judge given", hint="--judge classifier")
    started = time.monotonic()
    run_dir = Path(run_dir)
    todo = load_judges(cfg.judges)  # a bad --judge fails now, not after the generation
    sets = load_sets(cfg)
    exchanges = to_exchanges(sets, cfg.system)
    prev: dict[str, Any] = {}
    if (run_dir / "run.json").is_file() and not cfg.overwrite:
        prev = read_run_json(run_dir)
        if prev.get("kind") != KIND:
            raise ConfigError(f"{run_dir} holds a {prev.get('kind')!r} run, not a benchmark",
                              hint="choose another -o")  # fmt: skip
    if cfg.overwrite:
        for sub in ("generations", "judgements"):
            shutil.rmtree(run_dir / sub, ignore_errors=True)
    info = new_run_info(KIND, command=command, config=cfg.to_dict(), status="generating")
    info["datasets"] = _merge_lists(prev.get("datasets", []), [s.describe() for s in sets], "name")
    info["judges"] = prev.get("judges", [])
    if not prev:  # an existing run.json stays until its answers are known to match
        write_run_json(run_dir, info)

    summaries = generate_endpoints(
        exchanges, run_dir, cfg.endpoints or None, samples=cfg.samples, params=cfg.params(),
        cache=cfg.cache, client=client, show_progress=show_progress,
    )  # fmt: skip
    gen_s = time.monotonic() - started
    info["endpoints"] = _merge_lists(
        prev.get("endpoints", []),
        [{"name": n, "model": s.model, **_gen_summary(s)} for n, s in summaries.items()],
        "name",
    )
    info["status"] = "judging"
    write_run_json(run_dir, info)

    wanted = {stem for _, _, stem in todo}
    stale = {p.stem for p in _stale_judgements(run_dir)} - wanted
    for p in (run_dir / "judgements").glob("*.parquet"):
        if p.stem in stale:
            p.unlink()
    earlier = [j for j in info["judges"] if j.get("file") not in stale | wanted]
    # the judges of this command first (the first is the primary), then earlier ones
    info["judges"] = [_judge(run_dir, j, show_progress) for j in todo] + earlier
    merge_judgements(run_dir, [j["file"] for j in info["judges"]])
    info["status"] = "done"
    info["timing"] = {"generate_s": round(gen_s, 3)}
    write_run_json(run_dir, info)
    from refusalkit.bench.report import rerender

    t_report = time.monotonic()
    rerender(run_dir)
    info["timing"]["report_s"] = round(time.monotonic() - t_report, 3)
    info["timing"]["total_s"] = round(time.monotonic() - started, 3)
    write_run_json(run_dir, info)
    return info


def _gen_summary(s: Any) -> dict[str, Any]:
    d = s.to_dict()
    return {k: d[k] for k in ("rows", "kept", "completed", "cached", "errors", "error_types",
                              "input_tokens", "output_tokens", "cost", "seconds")}  # fmt: skip


def rejudge(
    run_dir: str | Path,
    judges: Sequence[str],
    *,
    primary: bool = False,
    show_progress: bool | None = None,
) -> dict[str, Any]:
    """Judge a run's saved generations with more judges (no model is asked again)."""
    from refusalkit.evals import generation_files, merge_judgements
    from refusalkit.reports.results import read_run_json, write_run_json

    run_dir = Path(run_dir)
    info = read_run_json(run_dir)
    if info.get("kind") != KIND:
        raise ConfigError(f"{run_dir} is a {info.get('kind')!r} run, not a benchmark run",
                          hint="pass a folder written by `refusalkit bench`")  # fmt: skip
    if not generation_files(run_dir):
        merged = bool(info.get("merged_from"))
        raise ConfigError(
            f"{run_dir} holds no saved generations (generations/*.jsonl)",
            hint="rejudge the runs it merges, then run `bench leaderboard` again"
            if merged else "run `refusalkit bench -o DIR` first",
        )  # fmt: skip
    if not judges:
        raise ConfigError("no judge given", hint="--judge llm-falsereject:ENDPOINT")
    todo = load_judges(judges)
    wanted = {stem for _, _, stem in todo}
    old = [j for j in info.get("judges", []) if j.get("file") not in wanted]
    new = [_judge(run_dir, j, show_progress) for j in todo]
    info["judges"] = new + old if primary else old + new
    merge_judgements(run_dir, [j["file"] for j in info["judges"]])
    info.setdefault("rejudged", []).append({"judges": [j["spec"] for j in new]})
    write_run_json(run_dir, info)
    from refusalkit.bench.report import rerender

    rerender(run_dir)
    return info
