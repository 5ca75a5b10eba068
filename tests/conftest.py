"""Shared test set-up: isolate per-user state and keep output quiet."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own REFUSALKIT_HOME so no test touches a real response log."""
    home = tmp_path_factory.mktemp("rk-home")
    monkeypatch.setenv("REFUSALKIT_HOME", str(home))
    monkeypatch.setenv("REFUSALKIT_NO_PROGRESS", "1")
    for var in ("REFUSALKIT_BASE_URL", "REFUSALKIT_MODEL", "REFUSALKIT_API_KEY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
