"""Pieces both web apps share: the Jinja environment, page rendering, static files.

Templates are rendered with autoescaping on for every file (not only `.html`), so each
value a model, dataset or user wrote is escaped in text and attribute positions; no
template uses `|safe` except for SVG produced by `reports.svg` (which escapes its labels).
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path
from typing import Any

from refusalkit.web.security import CSRF_FIELD, Security, install

HERE = Path(__file__).resolve().parent
STATIC = {
    "app.css": "text/css; charset=utf-8",
    "annotate.js": "text/javascript; charset=utf-8",
}
#: Text longer than this is shown cut, with the whole text one click away.
PREVIEW_CHARS = 1500


def fmt_num(value: Any, digits: int = 3) -> str:
    """Numbers for tables: NaN/None as an em dash (undefined), floats to `digits`."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def fmt_pct(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{100 * float(value):.1f}%"


def preview(text: str | None, limit: int = PREVIEW_CHARS) -> tuple[str, bool]:
    text = text or ""
    if len(text) <= limit:
        return text, False
    return text[:limit].rstrip() + " …", True


@cache
def environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(str(HERE / "templates")),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = fmt_num
    env.filters["pct"] = fmt_pct
    env.globals["preview"] = preview
    env.globals["csrf_field"] = CSRF_FIELD
    return env


def render(sec: Security, template: str, status: int = 200, /, **ctx: Any) -> Any:
    from starlette.responses import HTMLResponse

    html = environment().get_template(template).render(csrf=sec.csrf, **ctx)
    return HTMLResponse(html, status_code=status)


def new_app(sec: Security, title: str) -> Any:
    """A FastAPI app with the security middleware, static files and error pages."""
    from fastapi import FastAPI
    from starlette.exceptions import HTTPException
    from starlette.responses import Response

    from refusalkit.core.errors import RefusalkitError

    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    install(app, sec)

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:  # a fixed list: nothing else on disk is reachable
            raise HTTPException(404, "no such file")
        return Response((HERE / "static" / name).read_bytes(), media_type=STATIC[name])

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok", media_type="text/plain")

    @app.exception_handler(HTTPException)
    async def http_error(request: Any, exc: HTTPException) -> Any:
        return render(sec, "error.html", exc.status_code, title="Error", message=str(exc.detail))

    @app.exception_handler(RefusalkitError)
    async def user_error(request: Any, exc: RefusalkitError) -> Any:
        from refusalkit.annotate import Conflict

        status = 409 if isinstance(exc, Conflict) else 400
        return render(sec, "error.html", status, title="Cannot do that", message=str(exc))

    return app
