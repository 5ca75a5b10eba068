"""The annotation workbench: label one exchange at a time (pages + form POSTs).

Pages are rendered on the server and work without JavaScript (radio buttons, a Save and a
Skip button, Back/Next links, an Undo button); `static/annotate.js` only adds keyboard
shortcuts and advancing as soon as a label is complete. Every POST carries the CSRF token
and the version of the label row the page showed, so a stale tab gets a conflict page
instead of overwriting a newer label.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Form
from starlette.responses import RedirectResponse

from refusalkit.annotate import Conflict, Project
from refusalkit.annotate.store import validate_name
from refusalkit.core.errors import ConfigError
from refusalkit.web.common import new_app, render
from refusalkit.web.security import Security, require_csrf


@dataclass(slots=True)
class Workbench:
    """What the annotation server serves: a project, its security, trusted CLI choices."""

    project: Project
    sec: Security
    annotator: str | None = None  # the default annotator (from --annotator)
    detectors: list[str] = field(default_factory=list)  # specs given on the command line
    runs: dict[str, Path] = field(default_factory=dict)  # run folders given on the command line

    def annotator_or_404(self, name: str) -> str:
        from starlette.exceptions import HTTPException

        try:
            validate_name(name)
        except ConfigError:
            raise HTTPException(404, "no such annotator") from None
        if name not in self.project.annotators():
            raise HTTPException(404, f"no annotator {name!r} in this project")
        return name

    def item_or_404(self, pos: int) -> Any:
        from starlette.exceptions import HTTPException

        ex = self.project.item(pos)
        if ex is None:
            raise HTTPException(404, f"no item {pos} in this project")
        return ex


def scheme_groups(project: Project) -> list[tuple[str, list[Any]]]:
    """Category choices grouped for display: should not, cannot, other."""
    titles = {"should_not": "Should not", "cannot": "Cannot", "other": "Other"}
    groups: dict[str, list[Any]] = {}
    for c in project.scheme.categories:
        groups.setdefault(c.group, []).append(c)
    return [(titles.get(g, g), cs) for g, cs in groups.items()]


def create_app(wb: Workbench) -> Any:
    """The FastAPI app for `refusalkit annotate`."""
    from refusalkit.web.review_app import register_review

    project, sec = wb.project, wb.sec
    app = new_app(sec, "refusalkit annotate")

    def page(template: str, status: int = 200, /, **ctx: Any) -> Any:
        return render(
            sec,
            template,
            status,
            scheme=project.scheme,
            groups=scheme_groups(project),
            me=wb.annotator,
            **ctx,
        )

    @app.get("/")
    def home() -> Any:
        if wb.annotator:
            return RedirectResponse(f"/a/{wb.annotator}/", status_code=303)
        people = [(a, project.progress(a)) for a in project.annotators()]
        return page("choose.html", title="Annotators", people=people)

    @app.get("/a/{name}/")
    def start(name: str) -> Any:
        name = wb.annotator_or_404(name)
        pos = project.next_pos(name)
        if pos is None:
            return RedirectResponse(f"/a/{name}/done", status_code=303)
        return RedirectResponse(f"/a/{name}/item/{pos}", status_code=303)

    @app.get("/a/{name}/done")
    def done(name: str) -> Any:
        name = wb.annotator_or_404(name)
        skipped = [p for p in project.queue(name) if project.label(p, name).skipped]
        return page(
            "done.html",
            title="Done",
            name=name,
            progress=project.progress(name),
            skipped=[(p, project.item(p)) for p in skipped[:500]],
        )

    @app.get("/a/{name}/item/{pos}")
    def item(name: str, pos: int) -> Any:
        name = wb.annotator_or_404(name)
        ex = wb.item_or_404(pos)
        prev_pos, next_pos, rank = project.neighbours(name, pos)
        queue_len = len(project.queue(name))
        return page(
            "item.html",
            title=f"Item {pos}",
            name=name,
            pos=pos,
            ex=ex,
            lab=project.label(pos, name),
            rank=rank,
            queue_len=queue_len,
            prev_pos=prev_pos,
            next_pos=next_pos,
            progress=project.progress(name),
            error=None,
        )

    @app.post("/a/{name}/item/{pos}/label")
    def save(
        name: str,
        pos: int,
        csrf: str = Form(""),
        version: str = Form(""),
        action: str = Form("save"),
        behavior: str = Form(""),
        category: str = Form(""),
        comment: str = Form(""),
    ) -> Any:
        require_csrf(sec, csrf)
        name = wb.annotator_or_404(name)
        wb.item_or_404(pos)
        skip = action == "skip"
        try:
            project.save_label(
                name, pos, behavior, category, comment, expected_version=_int(version), skip=skip
            )
        except Conflict as exc:
            return page(
                "error.html",
                409,
                title="Changed elsewhere",
                message=str(exc),
                link=f"/a/{name}/item/{pos}",
                link_text="Reload this item",
            )
        except ConfigError as exc:
            prev_pos, next_pos, rank = project.neighbours(name, pos)
            return page(
                "item.html",
                400,
                title=f"Item {pos}",
                name=name,
                pos=pos,
                ex=project.item(pos),
                lab=project.label(pos, name),
                rank=rank,
                queue_len=len(project.queue(name)),
                prev_pos=prev_pos,
                next_pos=next_pos,
                progress=project.progress(name),
                error=exc.message,
            )
        nxt = project.next_pos(name)
        if skip and nxt is None:
            _, after, _ = project.neighbours(name, pos)
            nxt = after
        target = f"/a/{name}/item/{nxt}" if nxt is not None else f"/a/{name}/done"
        return RedirectResponse(target, status_code=303)

    @app.post("/a/{name}/undo")
    def undo(name: str, csrf: str = Form("")) -> Any:
        require_csrf(sec, csrf)
        name = wb.annotator_or_404(name)
        pos = project.undo(name)
        target = f"/a/{name}/item/{pos}" if pos is not None else f"/a/{name}/"
        return RedirectResponse(target, status_code=303)

    register_review(app, wb, page)
    return app


def _int(text: str, default: int = -1) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        return default
