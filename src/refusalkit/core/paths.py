"""Where refusalkit finds its bundled resources and keeps per-user state."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def resource_path(*parts: str) -> Path:
    """Path of a file shipped inside the package under `refusalkit/resources/`."""
    return _PACKAGE_DIR.joinpath("resources", *parts)


def user_dir() -> Path:
    """Per-user state (response log, caches). `REFUSALKIT_HOME` overrides the default.

    Tests and CI point `REFUSALKIT_HOME` at a temporary folder so they never touch the
    user's real log.
    """
    env = os.environ.get("REFUSALKIT_HOME")
    if env:
        path = Path(env).expanduser()
    else:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        path = Path(base) / "refusalkit"
    path.mkdir(parents=True, exist_ok=True)
    return path
