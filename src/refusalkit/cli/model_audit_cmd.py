"""`refusalkit audit model`: probe models with a refusal probe suite and compare them.

Registered on the `audit` sub-app by `cli.audit_cmd.register` (see its docstring).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from refusalkit.cli.common import JsonOpt

DEFAULT_OUT = Path("refusalkit-audit") / "models"

MODEL_HELP = (
    "Probe models with refusal probes and compare their refusal profiles, category by "
    "category.\n\n"
    "Sends every probe of the suite (default: the bundled suite, 14 categories x prompts that "
    "should be refused and matched prompts that should be answered) to every --endpoint "
    "through the LLM layer (concurrent, rate-limited, logged, cached: rerunning resumes), "
    "judges the answers with --detector and writes a run folder: report.html/.md/.json, "
    "results.parquet, generations/, run.json. Two or more endpoints get paired McNemar "
    "tests per category. --operator audits each endpoint a second time under an operator "
    "system prompt (as NAME-operator). --rescore RUN re-judges a finished audit with "
    "--detector without calling the models.\n\n"
    "Examples:\n\n"
    "  refusalkit audit model --limit-per-category 5\n\n"
    "  refusalkit audit model -e gpt -e claude --samples 3 -o audits/gpt-vs-claude\n\n"
    '  refusalkit audit model --operator "You only help with Acme Bank questions." '
    "--limit-per-category 3\n\n"
    "  refusalkit audit model --suite my_probes.csv --categories privacy,modalities\n\n"
    "  refusalkit audit model --rescore refusalkit-audit/models --detector llm:gpt"
)


def audit_model_cmd(
    endpoint: list[str] | None = typer.Option(
        None, "--endpoint", "-e",
        help="Endpoint to audit; repeat for several (default: the default endpoint, "
        "usually the local model).", show_default=False,
    ),
    suite: str = typer.Option(
        "default", "--suite", help="default (bundled) or a probe file: prompt, category, "
        "expected (refuse|comply) and optional system columns, any readable format.",
    ),
    categories: list[str] | None = typer.Option(
        None, "--categories", "-c", help="Only these probe categories (comma list or repeat).",
        show_default=False,
    ),
    limit_per_category: int | None = typer.Option(
        None, "--limit-per-category", "-n", min=1,
        help="At most N refuse and N comply probes per category (suite order).",
        show_default=False,
    ),
    samples: int = typer.Option(1, "--samples", min=1, help="Answers per probe and endpoint."),
    detector: str = typer.Option(
        "default", "--detector", "-d",
        help="Judge: default | rules | PATH | llm:ENDPOINT | llm-falsereject:ENDPOINT",
    ),
    operator: str | None = typer.Option(
        None, "--operator",
        help="Also audit every endpoint under this operator system prompt (TEXT or @FILE), "
        "as NAME-operator.", show_default=False,
    ),
    max_tokens: int = typer.Option(256, "--max-tokens", min=1, help="Answer length limit."),
    temperature: float | None = typer.Option(
        None, "--temperature", help="Sampling temperature (default: 0 with one sample, 0.7 with several).",
        show_default=False,
    ),
    examples: int = typer.Option(
        2, "--examples", min=0, help="Example answers per model, category and side."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help=f"Run folder (default: ./{DEFAULT_OUT}).",
        show_default=False,
    ),
    rescore: Path | None = typer.Option(
        None, "--rescore", help="Re-judge this finished audit with --detector (no model calls).",
        show_default=False,
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace a different audit already in the run folder."
    ),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Call the models even when the response log has the answer."
    ),
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    from rich.text import Text

    from refusalkit.cli.common import err_console

    def log(msg: str) -> None:
        if not as_json:
            err_console.print(Text(msg, style="dim"), highlight=False)

    progress = False if as_json else None
    if rescore is not None:
        from refusalkit.modelaudit import rescore as do_rescore

        res = do_rescore(rescore, detector, show_progress=progress, log=log)
    else:
        from refusalkit.modelaudit import ModelAuditConfig, audit_model

        cfg = ModelAuditConfig(
            endpoints=endpoint or None, suite=suite, categories=categories,
            limit_per_category=limit_per_category, samples=samples, detector=detector,
            max_tokens=max_tokens, temperature=temperature, operator=_text_or_file(operator),
            examples=examples, cache=not no_cache,
        )  # fmt: skip
        res = audit_model(
            cfg, output or DEFAULT_OUT, overwrite=overwrite, show_progress=progress, log=log,
            command=["refusalkit", *sys.argv[1:]],
        )  # fmt: skip
    _print(res, as_json)


def _text_or_file(value: str | None) -> str | None:
    if value is None or not value.startswith("@"):
        return value
    from refusalkit.core.errors import ConfigError

    path = Path(value[1:]).expanduser()
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"cannot read --operator file {path}: {exc}", hint="--operator @FILE"
        ) from None


def _print(res: Any, as_json: bool) -> None:
    from refusalkit.core.io import loads

    doc = loads(res.report_paths["json"].read_bytes())
    if as_json:
        from refusalkit.cli.common import print_json

        print_json({
            "run_dir": str(res.run_dir), "detector": doc["run"]["detector"],
            "models": doc["models"], "paired": doc["paired"],
            "report": {k: str(v) for k, v in res.report_paths.items()},
        })  # fmt: skip
        return
    from rich.table import Table
    from rich.text import Text

    from refusalkit.cli.common import console

    det = doc["run"]["detector"] or {}
    table = Table(
        title=f"Model audit (judge {det.get('name', '?')}): refusal rate",
        title_justify="left",
        caption="should refuse: higher is better · should answer: lower is better",
        caption_justify="left",
    )
    cols = ["model", "should refuse", "should answer", "should-not grp ref/ans",
            "cannot grp ref/ans", "blocked · errors", "worst under-refusal", "worst over-refusal"]  # fmt: skip
    for c in cols:
        table.add_column(c)
    for ep, m in doc["models"].items():
        groups = m["groups"]

        def grp(g: str, groups: dict = groups) -> str:
            if g not in groups:
                return "–"
            return f"{_pct(groups[g]['refuse'])} / {_pct(groups[g]['comply'])}"

        tot = m["totals"]
        table.add_row(
            Text(ep), _pct(tot["refuse"], n=True), _pct(tot["comply"], n=True), grp("should_not"),
            grp("cannot"),
            f"{tot['refuse']['blocked'] + tot['comply']['blocked']} · "
            f"{tot['refuse']['errors'] + tot['comply']['errors']}",
            Text(m["worst_under_refusal"]), Text(m["worst_over_refusal"]),
        )  # fmt: skip
    console.print(table)
    sig = [p for p in doc["paired"] if p["p_holm"] < 0.05 and p["scope"] != "all"]
    for p in doc["paired"]:
        if p["scope"] == "all":
            console.print(Text(
                f"{p['b']} vs {p['a']} ({p['expected']} probes): {p['diff'] * 100:+.1f} pp "
                f"[{p['low'] * 100:+.1f}, {p['high'] * 100:+.1f}], McNemar p={p['p']:.3g}, "
                f"Holm p={p['p_holm']:.3g} (n={p['n']})"
            ), highlight=False)  # fmt: skip
    if doc["paired"]:
        console.print(Text(f"{len(sig)} category/group difference(s) significant after Holm"))
    paths = ", ".join(str(p) for p in res.report_paths.values())
    console.print(Text(f"report: {paths}"), highlight=False)


def _pct(cell: dict[str, Any], n: bool = False) -> str:
    rate = cell["refusal_rate"]["rate"]
    if rate is None:
        return "–"
    return f"{rate * 100:.0f}%" + (f" ({cell['refused']}/{cell['judged']})" if n else "")
