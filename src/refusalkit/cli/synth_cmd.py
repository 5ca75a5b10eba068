"""`refusalkit synth` (synthetic refusal data) and `refusalkit finetune` (LoRA SFT).

Thin wrappers over `refusalkit.synth` and `refusalkit.finetune`; torch and friends are
imported only when `finetune` runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from refusalkit.cli.common import JsonOpt, console, err_console, print_json
from refusalkit.cli.llm_cmd import EndpointOpt, LogOpt

_SYNTH_HELP = (
    "Generate a synthetic refusal dataset: for every refusal category an LLM writes user "
    "instructions that call for that kind of refusal, then refusals in varied styles (terse, "
    "apologetic, explanatory, with alternatives, partial) and compliant replies as negatives.\n\n"
    "Answers are validated strictly (malformed output is retried with a new sample index, then "
    "recorded in failures.jsonl with its raw text), de-duplicated (exact + near-duplicate), "
    "balanced per category and written to DIR/data.jsonl with instruction, response, category, "
    "behavior, style, topic and provenance. Rerun the same command to resume: finished items "
    "are skipped and every answer already paid for replays from the response log.\n\n"
    "Examples:\n\n"
    "  refusalkit synth --per-category 100 -e gpt -o synth_out\n\n"
    "  refusalkit synth --per-category 8000 -e gpt --dry-run -o synth_out   (calls, tokens, cost)\n\n"
    "  refusalkit synth --per-category 2 --categories privacy,modalities --max-tokens 128 -o tiny\n\n"
    "  refusalkit train synth_out/data.jsonl real.jsonl --behavior-field behavior "
    "--category-field category -o models/with_synth"
)
_FT_HELP = (
    "LoRA fine-tuning of a causal LM on FalseReject-style data (loss on assistant tokens only), "
    "optionally mixed with general instruction data; saves the adapter and the merged model and "
    "writes OUT/model.gguf for `refusalkit serve-local --model OUT/model.gguf`.\n\n"
    "--base takes an HF model folder or a .gguf (default: the bundled SmolLM2-135M-Instruct). "
    "--data takes FalseReject exports (prompt + instruct_response / cot_response) or any chat / "
    "prompt-response file. Needs the \\[train] extra (pip install 'refusalkit\\[train]'). "
    "CPU works for small models; --device cuda with bf16 and gradient checkpointing scales to "
    "1-8B. Checkpoints go to OUT/checkpoints: "
    "rerun the same command to resume an interrupted run (OUT/job.json records the settings "
    "and the data's hash; other settings in the same folder need --overwrite).\n\n"
    "Examples:\n\n"
    "  refusalkit finetune --data export/falsereject.jsonl --mix dolly.csv --max-steps 30 -o ft\n\n"
    "  refusalkit finetune --data export/falsereject.jsonl --format cot --epochs 2 -o ft_cot\n\n"
    "  refusalkit finetune --base models/Llama-3.2-1B-Instruct --data export/falsereject.jsonl "
    "--device cuda --gguf none -o ft_llama\n\n"
    "  refusalkit finetune --data export/falsereject.jsonl --max-steps 0 -o base_f16  "
    "(the base through the same export: the fair 'before')\n\n"
    "  refusalkit serve-local --model ft/model.gguf"
)


def register(app: typer.Typer) -> None:
    app.command("synth", help=_SYNTH_HELP)(synth_cmd)
    app.command("finetune", help=_FT_HELP)(finetune_cmd)


def _csv(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    out = [v.strip() for item in values for v in item.split(",") if v.strip()]
    return out or None


def synth_cmd(
    per_category: int = typer.Option(
        ...,
        "--per-category",
        "-n",
        min=0,
        help="Refusal rows per category (plus as many negatives).",
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Run folder (resumed if it exists)."),
    endpoint: EndpointOpt = None,
    categories: list[str] | None = typer.Option(
        None,
        "--categories",
        "-c",
        help="Refusal category ids, comma-separated or repeated "
        "(default: all 15; not_refusal rows are the negatives).",
        show_default=False,
    ),
    styles: list[str] | None = typer.Option(
        None,
        "--styles",
        help="Refusal styles (default: terse, apologetic, explanatory, alternatives, partial).",
        show_default=False,
    ),
    topics: Path | None = typer.Option(
        None,
        "--topics",
        help="Topic list, one per line (default: the bundled list).",
        show_default=False,
    ),
    templates: Path | None = typer.Option(
        None,
        "--templates",
        help="YAML overriding the bundled prompt templates.",
        show_default=False,
    ),
    negatives: bool = typer.Option(
        True, "--negatives/--no-negatives", help="Also write compliant replies (not_refusal rows)."
    ),
    max_tokens: int | None = typer.Option(
        None,
        "--max-tokens",
        min=16,
        help="Cap on tokens per answer (default per stage: 220/260/420).",
        show_default=False,
    ),
    max_attempts: int = typer.Option(
        3, "--max-attempts", min=1, help="Tries per answer before it is recorded as a failure."
    ),
    max_rounds: int = typer.Option(
        4,
        "--max-rounds",
        min=1,
        help="Top-up rounds for categories short after de-duplication and failures.",
    ),
    overgenerate: float = typer.Option(
        0.1,
        "--overgenerate",
        min=0.0,
        help="Extra share of items planned up front (covers "
        "duplicates and failures without another round).",
    ),
    dedup: str = typer.Option(
        "auto",
        "--dedup",
        help="Near-duplicate backend: auto, minilm, "
        "hashed, none (exact duplicates are always removed).",
    ),
    dedup_threshold: float | None = typer.Option(
        None,
        "--dedup-threshold",
        help="Cosine threshold (default per backend).",
        show_default=False,
    ),
    check: str = typer.Option(
        "negatives", "--check", help="Rules check of labels: negatives, both, none."
    ),
    detail: str = typer.Option(
        "full",
        "--detail",
        help="Prompt detail: full, or short (the definition's first "
        "sentence and one seed example: faster on small local models).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the topic/phrasing/style rotation."),
    taxonomy: Path | None = typer.Option(
        None, "--taxonomy", help="Refusal taxonomy YAML (default: bundled).", show_default=False
    ),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Estimate calls, tokens and cost; uses DIR/summary.json of a pilot run when present.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start the folder over."),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Call the model even when the log has the answer."
    ),
    log: LogOpt = None,
    as_json: JsonOpt = False,
) -> None:
    import asyncio

    from refusalkit.synth import make_config

    cfg = make_config(
        per_category, categories=_csv(categories), styles=_csv(styles), topics=topics,
        templates=templates, taxonomy=taxonomy, max_tokens=max_tokens, endpoint=endpoint,
        negatives=negatives, max_attempts=max_attempts, max_rounds=max_rounds,
        overgenerate=overgenerate,
        dedup_backend=None if dedup == "none" else dedup, dedup_threshold=dedup_threshold,
        check=check, seed=seed, detail=detail,
    )  # fmt: skip
    if dry_run:
        _dry_run(cfg, output, endpoint, as_json)
        return
    from refusalkit.llm.client import LLMClient
    from refusalkit.synth.run import arun_synth

    async def run() -> Any:
        async with LLMClient(endpoint, log=log, cache=not no_cache) as client:
            return await arun_synth(cfg, output, client=client, overwrite=overwrite,
                                    show_progress=False if as_json else None)  # fmt: skip

    try:
        summary = asyncio.run(run())
    except KeyboardInterrupt:
        err_console.print(f"[yellow]interrupted[/]: finished items are in {output}; rerun the "
                          "same command to resume.", highlight=False)  # fmt: skip
        raise typer.Exit(130) from None
    if as_json:
        print_json(summary)
        return
    _print_summary(summary)


def _dry_run(cfg: Any, output: Path, endpoint: str | None, as_json: bool) -> None:
    from refusalkit.llm.config import load_config, resolve_endpoint
    from refusalkit.synth import estimate
    from refusalkit.synth.store import RunFolder

    ep = resolve_endpoint(endpoint, load_config())
    measured = RunFolder(output).read_summary() if output.is_dir() else None
    est = estimate(cfg, ep, measured)
    if as_json:
        print_json(est)
        return
    console.print(
        f"[bold]estimate[/] for {cfg.per_category} per category x {len(cfg.categories)} "
        f"categories = {est['rows']:,} rows, {est['items']:,} planned items "
        f"({est['source']} token counts) on {est['endpoint']} ({est['model'] or '?'})",
        highlight=False,
    )
    for stage, s in est["stages"].items():
        console.print(f"  {stage:11s} {s['calls']:>9,} calls  {s['input_tokens']:>13,} in  "
                      f"{s['output_tokens']:>12,} out  (~{s['input_tokens_per_call']}/"
                      f"{s['output_tokens_per_call']} per call)", highlight=False)  # fmt: skip
    cost = f"${est['cost']:,.2f}" if est["cost"] is not None else "unknown (no prices configured)"
    console.print(f"  total {est['calls']:,} calls, {est['input_tokens']:,} input + "
                  f"{est['output_tokens']:,} output tokens; cost {cost}", highlight=False)  # fmt: skip


def _print_summary(s: dict[str, Any]) -> None:
    from rich.table import Table

    run = s["this_run"]
    t = Table(title=f"{s['rows']:,} rows -> {s['output']} ({s['endpoint']}, {s['model']})",
              title_justify="left")  # fmt: skip
    for col in ("category", "planned", "instr", "failed", "dup", "refusals", "negatives",
                "selected", "short"):  # fmt: skip
        t.add_column(col, justify="left" if col == "category" else "right")
    for cat, c in s["categories"].items():
        t.add_row(cat, str(c["planned_items"]), str(c["instructions"]),
                  str(c["instruction_failures"] + c["refusal_failures"] + c["compliance_failures"]),
                  str(c["duplicates_exact"] + c["duplicates_near"] + c["duplicate_responses"]),
                  str(c["refusals"]), str(c["compliances"]), str(c["selected"]),
                  str(c["shortfall"] or ""))  # fmt: skip
    console.print(t)
    tot = s["totals"]
    console.print(
        f"  this run: {run['calls']} calls, {run['replayed']} answers replayed from the log, "
        f"{run['seconds']:.1f}s; whole folder: {tot.get('calls', 0)} calls, "
        f"{tot.get('input_tokens', 0):,} in / {tot.get('output_tokens', 0):,} out tokens "
        f"({s['per_selected_item'].get('calls', 0)} calls per item)", highlight=False)  # fmt: skip
    if s["shortfall"]:
        err_console.print(f"[yellow]short of {s['per_category_target']} in: "
                          f"{', '.join(f'{k} ({v})' for k, v in s['shortfall'].items())}[/]; "
                          "see failures.jsonl and summary.json (raise --max-rounds)")  # fmt: skip


def finetune_cmd(
    data: list[Path] = typer.Option(
        ...,
        "--data",
        "-d",
        help="FalseReject export(s) or chat files (repeatable).",
        show_default=False,
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Output folder.", show_default=False),
    base: str | None = typer.Option(
        None,
        "--base",
        help="HF model folder or .gguf (default: bundled SmolLM2-135M-Instruct).",
        show_default=False,
    ),
    fmt: str = typer.Option("instruct", "--format", help="instruct | cot (FalseReject answers)."),
    mix: list[Path] | None = typer.Option(
        None, "--mix", help="General SFT data to mix in (repeatable).", show_default=False
    ),
    mix_ratio: float = typer.Option(
        1.0, "--mix-ratio", min=0.0, help="Mix examples per FalseReject example."
    ),
    limit: int | None = typer.Option(
        None, "--limit", min=1, help="Use at most N data examples.", show_default=False
    ),
    epochs: float = typer.Option(1.0, "--epochs", min=0.0, help="Passes over the data."),
    max_steps: int | None = typer.Option(
        None,
        "--max-steps",
        min=0,
        help="Stop after N optimiser steps (0: export the base).",
        show_default=False,
    ),
    lr: float = typer.Option(2e-4, "--lr", min=0.0, help="Learning rate."),
    lora_r: int = typer.Option(16, "--lora-r", min=1, help="LoRA rank (alpha = 2r)."),
    lora_alpha: int | None = typer.Option(
        None, "--lora-alpha", min=1, show_default=False, help="LoRA alpha (default 2 x r)."
    ),
    target_modules: str = typer.Option(
        "all-linear", "--target-modules", help="all-linear or comma-separated module names."
    ),
    batch_size: int = typer.Option(4, "--batch-size", min=1, help="Examples per device step."),
    grad_accum: int = typer.Option(1, "--grad-accum", min=1, help="Gradient accumulation."),
    max_length: int = typer.Option(1024, "--max-length", min=16, help="Tokens per example."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N, mps."),
    dtype: str = typer.Option(
        "auto", "--dtype", help="auto (bf16 on CUDA, else float32), float32, bfloat16, float16."
    ),
    grad_ckpt: bool | None = typer.Option(
        None,
        "--gradient-checkpointing/--no-gradient-checkpointing",
        help="Default: on for CUDA.",
        show_default=False,
    ),
    save_steps: int | None = typer.Option(
        None,
        "--save-steps",
        min=1,
        help="Checkpoint every N steps (default: ~10 per run, at most 50 apart); an "
        "interrupted run resumes from the last one when the same command is rerun.",
        show_default=False,
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of sampling, shuffling and training."),
    merge: bool = typer.Option(True, "--merge/--no-merge", help="Save the merged HF model."),
    gguf: str = typer.Option("auto", "--gguf", help="auto, f16, f32, q8_0, none."),
    gguf_metadata: str | None = typer.Option(
        None,
        "--gguf-metadata",
        help="GGUF of the same base to copy tokenizer metadata from (HF bases).",
        show_default=False,
    ),
    verify: bool = typer.Option(
        True, "--verify/--no-verify", help="Serve model.gguf with llama.cpp and ask one question."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty output."),
    as_json: JsonOpt = False,
) -> None:
    import importlib.util

    from refusalkit.core.errors import ConfigError

    missing = [m for m in ("torch", "transformers", "peft", "accelerate")
               if importlib.util.find_spec(m) is None]  # fmt: skip
    if base is None or base.endswith(".gguf"):
        missing += [] if importlib.util.find_spec("gguf") else ["gguf"]
    if missing:
        raise ConfigError(f"finetune needs {', '.join(missing)}",
                          hint="pip install 'refusalkit[train]'")  # fmt: skip
    from refusalkit.finetune.run import FinetuneJob, run_finetune
    from refusalkit.finetune.train import TrainSettings

    settings = TrainSettings(
        epochs=epochs, max_steps=max_steps, lr=lr, batch_size=batch_size, grad_accum=grad_accum,
        max_length=max_length, lora_r=lora_r, lora_alpha=lora_alpha,
        target_modules=target_modules, seed=seed, device=device, dtype=dtype,
        gradient_checkpointing=grad_ckpt, save_steps=save_steps,
    )  # fmt: skip
    job = FinetuneJob(output=output, data=list(data), base=base, format=fmt, mix=list(mix or []),
                      mix_ratio=mix_ratio, limit=limit, settings=settings, merge=merge, gguf=gguf,
                      gguf_metadata=gguf_metadata, verify=verify, overwrite=overwrite)  # fmt: skip
    try:
        record = run_finetune(job)
    except KeyboardInterrupt:
        err_console.print(f"[yellow]interrupted[/]: checkpoints are in {output}/checkpoints; "
                          "rerun the same command to resume.", highlight=False)  # fmt: skip
        raise typer.Exit(130) from None
    if as_json:
        print_json(record)
        return
    tr = record["train"]
    if record.get("already_done"):
        console.print(f"[bold]already done[/]: {output} holds this job, finished "
                      f"{record['created']} (--overwrite trains again)", highlight=False)  # fmt: skip
    elif tr.get("resumed_from"):
        console.print(f"resumed from {tr['resumed_from']}", highlight=False)
    console.print(
        f"[bold]fine-tuned[/] {record['base']['spec']} on {tr['rows']} examples "
        f"({record['data_stats']['data_examples']} data + {record['data_stats']['mix_examples']} mix), "
        f"{tr['steps']} steps in {tr['seconds']:.0f}s on {record['device']} ({record['dtype']}); "
        f"loss {tr['first_loss']} -> {tr['last_loss']}", highlight=False)  # fmt: skip
    for name, path in record["files"].items():
        console.print(f"  {name:10s} {path}", highlight=False)
    if record["gguf"]["note"]:
        console.print(f"  [yellow]no GGUF[/]: {record['gguf']['note']}", highlight=False)
    v = record.get("verify")
    if v:
        state = "[green]ok[/]" if v.get("ok") else "[red]failed[/]"
        console.print(f"  served with llama.cpp: {state} {v.get('prompt', '')!r} -> "
                      f"{(v.get('answer') or v.get('error') or v.get('skipped') or '')!r}", highlight=False)  # fmt: skip
    if "gguf" in record["files"]:
        console.print(f"  serve it: refusalkit serve-local --model {record['files']['gguf']}")
