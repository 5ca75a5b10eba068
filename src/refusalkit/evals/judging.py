"""Scorer step: judge saved generations with any detector, without calling the models.

Each judge writes `RUN_DIR/judgements/<detector>.parquet`; `results.parquet` is their
concatenation (one row per generation and judge, told apart by the `detector` column),
so a run can be re-judged with another detector or an LLM judge at any time and
judge-agreement compared row by row.

Outcome of a generation, recorded in the `outcome` column and never folded into a class:
- `answered`: the model produced text (truncated answers included; `finish_reason`
  says `length`), judged normally;
- `blocked`: the provider withheld the answer (`finish_reason == "content_filter"`
  with no text): unjudged with reason `provider block: ...`;
- `error`: the request failed after retries: unjudged with reason `generation error: ...`.
A reply in the provider's `refusal` field (structured-output refusals) is judged as the
response text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from refusalkit.core.models import Exchange, Message, Source, Verdict
from refusalkit.core.progress import progress
from refusalkit.evals.generation import (
    ITEM_CATEGORY,
    ITEM_DATASET,
    ITEM_EXPECTED,
    endpoint_slug,
    generation_files,
    iter_generations,
)

JUDGEMENTS_DIR = "judgements"

#: Run-specific results columns written by every eval run (model audit, benchmark).
EVAL_COLUMNS: dict[str, str] = {
    "dataset": "string",
    "endpoint": "string",
    "model": "string",
    "sample": "int32",
    "item_category": "string",
    "expected": "string",
    "prompt": "string",
    "response": "string",
    "system": "string",
    "finish_reason": "string",
    "outcome": "string",
    "error": "string",
    "cached": "bool",
    "cost": "float64",
}

OUTCOMES = ("answered", "blocked", "error")


def generation_outcome(row: dict[str, Any]) -> str:
    if row.get("error"):
        return "error"
    text = row.get("response") or row.get("refusal") or ""
    if row.get("finish_reason") == "content_filter" and not text.strip():
        return "blocked"
    return "answered"


def exchange_from_generation(row: dict[str, Any]) -> Exchange:
    """The exchange a generation row answers (response = text, or the refusal field)."""
    meta = dict(row.get("metadata") or {})
    return Exchange(
        id=f"{row['id']}@{row.get('endpoint', '')}#{row.get('sample', 0)}",
        prompt=row.get("prompt") or "",
        response=row.get("response") or row.get("refusal") or "",
        context=tuple(Message(m["role"], m["content"]) for m in row.get("context") or ()),
        system=row.get("system"),
        source=Source(row=row.get("index")),
        metadata=meta,
    )


def _eval_columns(row: dict[str, Any], ex: Exchange, outcome: str) -> dict[str, Any]:
    meta = ex.metadata
    expected = meta.get(ITEM_EXPECTED)
    return {
        "dataset": meta.get(ITEM_DATASET),
        "endpoint": row.get("endpoint"),
        "model": row.get("model"),
        "sample": row.get("sample", 0),
        "item_category": None if meta.get(ITEM_CATEGORY) is None else str(meta[ITEM_CATEGORY]),
        "expected": None if expected is None else str(expected),
        "prompt": ex.prompt,
        "response": ex.response,
        "system": ex.system,
        "finish_reason": row.get("finish_reason"),
        "outcome": outcome,
        "error": row.get("error"),
        "cached": row.get("cached"),
        "cost": row.get("cost"),
    }


def _judge_batch(detector: Any, rows: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    from refusalkit.reports.results import result_row

    exchanges = [exchange_from_generation(r) for r in rows]
    outcomes = [generation_outcome(r) for r in rows]
    todo = [i for i, o in enumerate(outcomes) if o == "answered"]
    verdicts: dict[int, Verdict] = dict(
        zip(todo, detector.predict([exchanges[i] for i in todo]), strict=True)
    )
    version = getattr(detector, "version", "")
    for i, (row, ex, outcome) in enumerate(zip(rows, exchanges, outcomes, strict=True)):
        verdict = verdicts.get(i)
        if verdict is None:
            reason = (
                f"generation error: {row.get('error_type') or ''} {row.get('error')}".strip()
                if outcome == "error"
                else f"provider block: {row.get('finish_reason')}"
            )
            verdict = Verdict.unjudged(reason, detector=detector.name, detector_version=version)
        yield result_row(ex, verdict, **_eval_columns(row, ex, outcome))


def _batches(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def judge_run(
    run_dir: str | Path,
    detector: str | Any = "default",
    *,
    extra_columns: dict[str, str] | None = None,
    extra_values: Any = None,
    batch_size: int = 256,
    show_progress: bool | None = None,
) -> Path:
    """Judge every generation of a run with `detector` (spec or Detector instance),
    write its judgement file and rebuild `results.parquet`. Returns the results path.

    `extra_columns`/`extra_values(row) -> dict` let a run kind add its own columns.
    """
    from refusalkit.detectors.registry import load_detector
    from refusalkit.reports.results import ResultsWriter

    run_dir = Path(run_dir)
    det = load_detector(detector) if isinstance(detector, str) else detector
    columns = {**EVAL_COLUMNS, **(extra_columns or {})}
    total = sum(_count_lines(path) for path in generation_files(run_dir))
    out = (
        run_dir
        / JUDGEMENTS_DIR
        / f"{endpoint_slug(str(detector) if isinstance(detector, str) else det.name)}.parquet"
    )
    with (
        ResultsWriter(out, columns, meta={"kind": "judgement"}) as writer,
        progress(f"judging ({det.name})", total=total, enabled=show_progress) as advance,
    ):
        for batch in _batches(iter_generations(run_dir), batch_size):
            for result, gen in zip(_judge_batch(det, batch), batch, strict=True):
                if extra_values is not None:
                    result.update(extra_values(gen))
                writer.write(result)
            advance(len(batch))
    return merge_judgements(run_dir)


def _count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for _ in fh)


def judgement_files(run_dir: str | Path) -> list[Path]:
    folder = Path(run_dir) / JUDGEMENTS_DIR
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def merge_judgements(run_dir: str | Path, judges: Sequence[str] | None = None) -> Path:
    """`results.parquet` = all judgement files (or only `judges`' files) concatenated."""
    from refusalkit.reports.results import RESULTS, concat_results

    parts = judgement_files(run_dir)
    if judges is not None:
        wanted = {endpoint_slug(j) for j in judges}
        parts = [p for p in parts if p.stem in wanted]
    out = Path(run_dir) / RESULTS
    concat_results(parts, out)
    return out
