"""`refusalkit classify`, `train` and `evaluate`: the refusal classifier on the command line.

Thin wrappers: reading goes through `refusalkit.readers`, detectors through
`load_detector`, batching/parallelism through `detectors.runner`, metrics through
`detectors.evaluation` (which uses `core.stats`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from refusalkit.cli.common import (
    DatasetOptions,
    EncodingOpt,
    FormatOpt,
    JsonOpt,
    PromptFieldOpt,
    RejectsOpt,
    ResponseFieldOpt,
    ShapeOpt,
    SkipBadOpt,
    SplitOpt,
)

_CLASSIFY_HELP = (
    "Classify every response of a dataset: behaviour, refusal score, category, group.\n\n"
    "Writes one JSON object per exchange (assistant turn): the input's id and fields, then "
    "behavior, refusal_score, category, category_scores, group, detector. Input fields named "
    "like a verdict field are kept as input_<name>. Uses every core for the fast detectors.\n\n"
    "Examples:\n\n"
    "  refusalkit classify sharegpt.jsonl.gz -o verdicts.jsonl\n\n"
    "  refusalkit classify xstest.csv -o out.jsonl --response-field completion --detector rules\n\n"
    "  refusalkit classify data.jsonl -o out.jsonl --detector ./my_model --json\n\n"
    "  refusalkit classify big.jsonl -o out.jsonl --resume   (continue an interrupted run)"
)
_TRAIN_HELP = (
    "Train a learned detector from any labelled file(s) and save it with a model card.\n\n"
    "Labels come from columns: --behavior-field (XSTest codes 1_full_compliance / "
    "2_full_refusal / 3_partial_refusal, FalseReject names, true/false, or your values via "
    "--label-map) and/or --category-field (taxonomy ids, or CoCoNot subcategories with "
    "--category-map coconot). A held-out split by prompt (--test-size) is scored and "
    "written to the model card.\n\n"
    "Examples:\n\n"
    "  refusalkit train xstest_gpt4.csv --behavior-field final_label -o models/xs\n\n"
    "  refusalkit train coconot.jsonl --behavior-field is_refusal --category-field subcategory "
    "--category-map coconot -o models/coconot\n\n"
    "  refusalkit classify new.jsonl -o out.jsonl --detector models/xs"
)
_EVAL_HELP = (
    "Score detectors against a human-labelled file, side by side.\n\n"
    "Reports accuracy, per-class precision/recall/F1, macro-F1, Cohen's kappa and the "
    "confusion matrix for behaviour (3-way and binary) and category (fine and group), with "
    "bootstrap 95% intervals. Repeat --detector to compare (default, rules, a saved model "
    "folder, llm:ENDPOINT); --reference treats a label column shipped with the data as one "
    "more detector.\n\n"
    "Examples:\n\n"
    "  refusalkit evaluate xstest_v2_completions_gpt4_gpteval.csv --behavior-field final_label "
    "-d default -d rules --reference gpt4_label\n\n"
    "  refusalkit evaluate coconot_eval_with_responses_dev.jsonl --behavior-field is_refusal "
    "--category-field subcategory --category-map coconot --json"
)

DetectorOpt = typer.Option(
    "default", "--detector", "-d", help="default | rules | PATH | llm:ENDPOINT"
)
BehaviorFieldOpt = typer.Option(None, "--behavior-field", help="Column with the behaviour label.")
CategoryFieldOpt = typer.Option(None, "--category-field", help="Column with the category label.")
CategoryMapOpt = typer.Option(None, "--category-map", help="Built-in category value map: coconot.")
LabelMapOpt = typer.Option(
    None, "--label-map", help="VALUE=behavior, repeatable (e.g. --label-map yes=full_refusal)."
)


def register(app: typer.Typer) -> None:
    """Add `classify`, `train` and `evaluate` to the root app."""
    app.command("classify", help=_CLASSIFY_HELP)(classify)
    app.command("train", help=_TRAIN_HELP)(train)
    app.command("evaluate", help=_EVAL_HELP)(evaluate)


def read_labelled(*args: Any) -> tuple[list[Any], list[Any], dict[str, Any]]:
    from refusalkit.detectors.labels import read_labelled as _read

    return _read(*args)


def classify(
    inputs: list[Path] = typer.Argument(..., help="Dataset files or folders.", show_default=False),
    output: Path = typer.Option(..., "--output", "-o", help="Output JSONL file."),
    detector: str = DetectorOpt,
    shape: ShapeOpt = None,
    prompt_field: PromptFieldOpt = None,
    response_field: ResponseFieldOpt = None,
    split: SplitOpt = None,
    skip_bad: SkipBadOpt = False,
    rejects: RejectsOpt = None,
    fmt: FormatOpt = None,
    encoding: EncodingOpt = None,
    limit: int | None = typer.Option(None, "--limit", help="Classify at most N exchanges."),
    workers: int | None = typer.Option(None, "--workers", help="Processes (default: all cores)."),
    batch_size: int = typer.Option(1024, "--batch-size", min=1, help="Exchanges per batch."),
    resume: bool = typer.Option(
        False, "--resume", help="Append to OUTPUT, skipping rows already in it."
    ),
    as_json: JsonOpt = False,
) -> None:
    from collections import Counter
    from itertools import islice

    from refusalkit.core.io import JsonlWriter, truncate_partial_last_line
    from refusalkit.core.progress import progress
    from refusalkit.detectors.registry import load_detector
    from refusalkit.detectors.runner import classify_stream, output_record
    from refusalkit.readers import read_exchanges

    opts = DatasetOptions.from_params(locals())
    det = load_detector(detector)
    done = 0
    if resume and output.exists():
        truncate_partial_last_line(output)
        with open(output, "rb") as fh:
            done = sum(1 for line in fh if line.strip())
    t0 = time.perf_counter()
    counts: Counter[str] = Counter()
    cats: Counter[str] = Counter()
    groups: Counter[str] = Counter()
    n = 0
    with (
        read_exchanges(inputs, limit=limit, **opts.to_kwargs()) as stream,
        JsonlWriter(output, append=resume) as writer,
        progress("classify", enabled=False if as_json else None) as advance,
    ):
        todo = islice(stream, done, None)
        pending = 0
        for ex, v in classify_stream(todo, det, batch_size=batch_size, workers=workers):
            writer.write(output_record(ex, v))
            counts[v.behavior.value] += 1
            if v.is_refusal:
                cats[v.category or ""] += 1
                groups[v.group.value] += 1
            n += 1
            pending += 1
            if pending == 1000:
                advance(pending)
                pending = 0
        advance(pending)
    secs = time.perf_counter() - t0
    summary = {
        "output": str(output),
        "detector": det.name,
        "detector_version": det.version,
        "exchanges": n,
        "skipped_already_done": done,
        "seconds": round(secs, 3),
        "per_second": round(n / secs, 1) if secs > 0 else None,
        "behavior": dict(counts),
        "refusal_categories": dict(cats.most_common()),
        "refusal_groups": dict(groups),
        "reader": stream.stats.to_dict(),
    }
    _print_summary(summary, as_json)


def _print_summary(summary: dict[str, Any], as_json: bool) -> None:
    from refusalkit.cli.common import console, print_json

    if as_json:
        print_json(summary)
        return
    from rich.table import Table

    n = summary["exchanges"] or 1
    t = Table(
        title=f"{summary['exchanges']:,} exchanges -> {summary['output']} "
        f"({summary['detector']} {summary['detector_version']}, {summary['per_second'] or 0:,.0f}/s)",
        title_justify="left",
    )
    t.add_column("behaviour / category")
    t.add_column("count", justify="right")
    t.add_column("share", justify="right")
    for k, v in sorted(summary["behavior"].items()):
        t.add_row(k, f"{v:,}", f"{v / n:.1%}")
    for k, v in summary["refusal_categories"].items():
        t.add_row(f"  refusal: {k}", f"{v:,}", f"{v / n:.1%}")
    console.print(t)
    rej = summary["reader"].get("rejected")
    if rej:
        console.print(f"[yellow]{rej} rows rejected[/] -> {summary['reader'].get('rejects_path')}")


def train(
    inputs: list[Path] = typer.Argument(..., help="Labelled dataset files.", show_default=False),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for the trained detector."),
    behavior_field: str | None = BehaviorFieldOpt,
    category_field: str | None = CategoryFieldOpt,
    category_map: str | None = CategoryMapOpt,
    label_map: list[str] | None = LabelMapOpt,
    test_size: float = typer.Option(
        0.2, "--test-size", min=0.0, max=0.9, help="Held-out share (by prompt)."
    ),
    seed: int = typer.Option(0, "--seed", help="Split seed."),
    name: str = typer.Option("learned", "--name", help="Detector name recorded on verdicts."),
    shape: ShapeOpt = None,
    prompt_field: PromptFieldOpt = None,
    response_field: ResponseFieldOpt = None,
    split: SplitOpt = None,
    skip_bad: SkipBadOpt = False,
    rejects: RejectsOpt = None,
    fmt: FormatOpt = None,
    encoding: EncodingOpt = None,
    limit: int | None = typer.Option(None, "--limit", help="Use at most N exchanges."),
    as_json: JsonOpt = False,
) -> None:
    from refusalkit.cli.common import console, print_json
    from refusalkit.detectors.evaluation import score
    from refusalkit.detectors.learned import LearnedDetector
    from refusalkit.detectors.training import labels_from_gold, split_by_prompt, write_model_card

    opts = DatasetOptions.from_params(locals())
    exchanges, gold, stats = read_labelled(
        inputs, opts.to_kwargs(), behavior_field, category_field, category_map, label_map, limit
    )
    held = (
        split_by_prompt(exchanges, test_size, seed) if test_size > 0 else [False] * len(exchanges)
    )
    tr = [i for i, h in enumerate(held) if not h]
    te = [i for i, h in enumerate(held) if h]
    det = LearnedDetector(name=name, model_version="1")
    det.fit([exchanges[i] for i in tr], labels_from_gold([gold[i] for i in tr]))
    metrics = None
    if te:
        metrics = score([gold[i] for i in te], det.predict([exchanges[i] for i in te]), n_boot=200)
    det.training.update(
        {
            "train_rows": len(tr),
            "test_rows": len(te),
            "test_size": test_size,
            "seed": seed,
            "behavior_field": behavior_field,
            "category_field": category_field,
        }
    )
    det.save(output)
    write_model_card(output, det, sources=[str(p) for p in inputs], metrics=metrics)
    summary = {
        "output": str(output),
        "train_rows": len(tr),
        "test_rows": len(te),
        "training": det.training,
        "held_out": metrics,
        "reader": stats,
    }
    if as_json:
        print_json(summary)
        return
    console.print(
        f"saved [bold]{output}[/] (trained on {len(tr):,} rows, held out {len(te):,} by prompt)"
    )
    if metrics:
        for task, m in metrics.items():
            if m.get("n"):
                console.print(
                    f"  {task:10s} n={m['n']:<6} accuracy={m['accuracy']:.3f} macro-F1={m['macro_f1']:.3f}"
                )


def evaluate(
    inputs: list[Path] = typer.Argument(
        ..., help="Human-labelled dataset files.", show_default=False
    ),
    detector: list[str] = typer.Option(
        ["default"], "--detector", "-d", help="Detector spec (repeatable)."
    ),
    reference: list[str] | None = typer.Option(
        None, "--reference", help="Label column to score as a detector (repeatable)."
    ),
    behavior_field: str | None = BehaviorFieldOpt,
    category_field: str | None = CategoryFieldOpt,
    category_map: str | None = CategoryMapOpt,
    label_map: list[str] | None = LabelMapOpt,
    bootstrap: int = typer.Option(
        1000, "--bootstrap", min=0, help="Bootstrap resamples for CIs (0 = none)."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Also write the JSON report here."
    ),
    shape: ShapeOpt = None,
    prompt_field: PromptFieldOpt = None,
    response_field: ResponseFieldOpt = None,
    split: SplitOpt = None,
    skip_bad: SkipBadOpt = False,
    rejects: RejectsOpt = None,
    fmt: FormatOpt = None,
    encoding: EncodingOpt = None,
    limit: int | None = typer.Option(None, "--limit", help="Use at most N exchanges."),
    as_json: JsonOpt = False,
) -> None:
    from refusalkit.cli.common import console, print_json
    from refusalkit.core.io import atomic_write, dumps_pretty
    from refusalkit.core.progress import progress
    from refusalkit.detectors.evaluation import evaluate as run_eval
    from refusalkit.detectors.evaluation import reference_verdicts, render
    from refusalkit.detectors.registry import load_detector
    from refusalkit.detectors.runner import classify_stream

    opts = DatasetOptions.from_params(locals())
    exchanges, gold, stats = read_labelled(
        inputs, opts.to_kwargs(), behavior_field, category_field, category_map, label_map, limit
    )
    verdicts: dict[str, list[Any]] = {}
    for spec in detector:
        det = load_detector(spec)
        with progress(
            f"evaluate {spec}", total=len(exchanges), enabled=False if as_json else None
        ) as advance:
            vs = []
            for _, v in classify_stream(exchanges, det):
                vs.append(v)
                advance()
        verdicts[spec if spec not in verdicts else f"{spec}#{len(verdicts)}"] = vs
    for col in reference or []:
        verdicts[f"ref:{col}"] = reference_verdicts(exchanges, col)
    report = run_eval(exchanges, gold, verdicts, n_boot=bootstrap)
    report["inputs"] = [str(p) for p in inputs]
    report["reader"] = stats
    if output:
        atomic_write(output, dumps_pretty(report) + "\n")
    if as_json:
        print_json(report)
        return
    render(report, console)
