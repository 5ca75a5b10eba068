"""Shared pieces of the CLI: consoles, JSON output, and user-facing error handling."""

from __future__ import annotations

import sys
from typing import Any

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
