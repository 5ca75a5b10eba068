"""Run a web app with uvicorn, printing where to open it (with the token when exposed)."""

from __future__ import annotations

from typing import Any

from refusalkit.core.errors import ConfigError
from refusalkit.web.security import TOKEN_ENV, Security


def require_web_extra() -> None:
    """Fail with an install hint when the optional web stack is missing."""
    from importlib.util import find_spec

    wanted = {
        "fastapi": ("fastapi",),
        "uvicorn": ("uvicorn",),
        "python-multipart": ("python_multipart", "multipart"),
    }
    missing = [name for name, modules in wanted.items() if not any(find_spec(m) for m in modules)]
    if missing:
        raise ConfigError(
            f"the web workbench needs {', '.join(missing)}",
            hint='install the web extra: pip install "refusalkit[web]"',
        )


def url_for(host: str, port: int, sec: Security, path: str = "/") -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    url = f"http://{shown}:{port}{path}"
    if sec.token and sec.token_shown:
        return url + f"?token={sec.token}"
    if sec.token:
        return url + f"?token=<${TOKEN_ENV}>"
    return url


def serve(app: Any, host: str, port: int) -> None:
    """Blocking: serve until Ctrl-C. Labels are already on disk, so stopping loses nothing."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
