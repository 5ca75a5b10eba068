"""Progress bars with rows/s and ETA, quiet when output is not a terminal.

Every long loop in refusalkit goes through `progress()`, so the CLI shows a bar for
anything longer than a second while scripts, `--json` runs and tests stay quiet.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Advance(Protocol):
    def __call__(self, n: int = 1) -> None: ...


def progress_enabled() -> bool:
    if os.environ.get("REFUSALKIT_NO_PROGRESS"):
        return False
    return sys.stderr.isatty()


@contextmanager
def progress(
    description: str, total: int | None = None, *, enabled: bool | None = None
) -> Iterator[Advance]:
    """Yield an `advance(n)` callable; draws a rich bar on stderr when enabled."""
    if enabled is None:
        enabled = progress_enabled()
    if not enabled:
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    class TransferSpeedlessRate(TextColumn):
        """rows/s (rich's own speed column formats bytes)."""

        def __init__(self) -> None:
            super().__init__("")

        def render(self, task):  # type: ignore[no-untyped-def]
            from rich.text import Text

            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f}/s" if speed else "-/s", style="cyan")

    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TransferSpeedlessRate(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            bar.advance(task, n)

        yield advance
