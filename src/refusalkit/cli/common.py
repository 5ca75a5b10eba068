"""Shared pieces of the CLI: consoles, JSON output, and user-facing error handling."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def print_json(obj: Any) -> None:
    """Machine-readable output for `--json`: one JSON document on stdout."""
    from refusalkit.core.io import dumps_pretty

    sys.stdout.write(dumps_pretty(obj) + "\n")


def fail(message: str, code: int = 2) -> None:
    """Print an error for the user (no traceback) and exit."""
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise SystemExit(code)


# -- dataset input options shared by every command that reads user files ------------
# Declared once so `inspect`, `classify`, `generate`, `audit`, `bench`, ... spell and
# document them identically. Use `DatasetOptions.to_kwargs()` to call the readers.


ShapeOpt = Annotated[
    str | None,
    typer.Option(
        "--shape",
        help="Override shape detection: alpaca, sharegpt, messages, hh_rlhf, dpo, "
        "prompt_response, prompt_only.",
        show_default=False,
    ),
]
PromptFieldOpt = Annotated[
    str | None,
    typer.Option("--prompt-field", help="Column holding the prompt.", show_default=False),
]
ResponseFieldOpt = Annotated[
    str | None,
    typer.Option("--response-field", help="Column holding the response.", show_default=False),
]
SplitOpt = Annotated[
    str | None,
    typer.Option(
        "--split", help="Only this split of an HF DatasetDict folder.", show_default=False
    ),
]
SkipBadOpt = Annotated[
    bool,
    typer.Option(
        "--skip-bad",
        help="Set unreadable rows aside in a side file (with the reason) and carry on.",
    ),
]
RejectsOpt = Annotated[
    Path | None,
    typer.Option(
        "--rejects",
        help="Side file for --skip-bad (default: ./<first input stem>.rejects.jsonl).",
        show_default=False,
    ),
]
FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="Override format detection: jsonl, json, csv, tsv, parquet, arrow, hf_disk.",
        show_default=False,
    ),
]
EncodingOpt = Annotated[
    str | None,
    typer.Option(
        "--encoding", help="Text encoding of the files (default: utf-8).", show_default=False
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document for scripts.")]


@dataclass(slots=True)
class DatasetOptions:
    """The reader options a command received, ready for `read_exchanges(**to_kwargs())`."""

    shape: str | None = None
    prompt_field: str | None = None
    response_field: str | None = None
    split: str | None = None
    skip_bad: bool = False
    rejects: Path | None = None
    format: str | None = None
    encoding: str | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> DatasetOptions:
        """The options among a command's parameters (`DatasetOptions.from_params(locals())`).

        Commands declare the shared `ShapeOpt`, `PromptFieldOpt`, ... parameters (typer needs
        them in each signature); this collects whichever of them the command has, so the
        mapping from flags to reader arguments lives here once. `fmt` is `--format`.
        """
        names = {"fmt": "format"}
        kw = {names.get(k, k): v for k, v in params.items() if names.get(k, k) in _OPTION_NAMES}
        return cls(**kw)

    def fields(self) -> dict[str, str]:
        out = {}
        if self.prompt_field:
            out["prompt"] = self.prompt_field
        if self.response_field:
            out["response"] = self.response_field
        return out

    def to_kwargs(self) -> dict[str, object]:
        return {
            "shape": self.shape,
            "fields": self.fields(),
            "skip_bad": self.skip_bad,
            "rejects_path": self.rejects,
            "split": self.split,
            "encoding": self.encoding,
            "format": self.format,
        }


_OPTION_NAMES = frozenset(DatasetOptions.__dataclass_fields__)
