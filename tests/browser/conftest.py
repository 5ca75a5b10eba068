"""Real-browser fixtures: Debian's chromium driven by Playwright, the real server on a port.

One browser per module; each test gets fresh contexts. Module scope (not session) matters:
Playwright's sync API holds an asyncio loop open in the main thread while it runs, and
later tests that call asyncio.run() would fail with "cannot be called from a running loop".
Playwright never downloads a browser here: `executable_path` points at the system
chromium, and the tests are skipped with a clear reason when it is missing. The flags
turn off Chromium's background networking, which this machine's closed network refuses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_util import ARGS, CHROMIUM, Watch


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        pytest.skip(
            f"Debian chromium not found at {CHROMIUM} (apt-get install chromium); browser tests need it"
        )
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="pip install playwright (the [dev] extra)"
    )
    pytest.importorskip("uvicorn", reason="the [web] extra is needed to serve the pages")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[[], tuple[Any, Watch]]]:
    contexts: list[Any] = []

    def make() -> tuple[Any, Watch]:
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(10_000)
        return page, Watch(page)

    yield make
    for ctx in contexts:
        ctx.close()
