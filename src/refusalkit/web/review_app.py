"""Agreement, adjudication, model-vs-human, definitions and export pages.

Registered on the annotation app (`annotate_app.create_app`). Reading pages are GETs;
anything that writes (a gold label) or costs (running a detector, possibly an LLM judge)
is a CSRF-checked POST, so a link on another site cannot trigger it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Form
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, StreamingResponse

from refusalkit.annotate import Conflict
from refusalkit.annotate.agreement import (
    agreement_report,
    confusion,
    disagreements,
    fields_of,
    reference_labels,
)
from refusalkit.core.errors import ConfigError, RefusalkitError
from refusalkit.web.security import require_csrf, safe_path

if TYPE_CHECKING:
    from refusalkit.web.annotate_app import Workbench

BUILTIN_DETECTORS = ("rules", "default")
_ENDPOINT = re.compile(r"^(llm|llm-falsereject):[A-Za-z0-9_.-]{1,80}$")


def detector_allowed(wb: Workbench, spec: str) -> str:
    """A detector spec the page may run: built-in, `llm:NAME`, given on the command line,
    or a saved detector folder *inside* the project folder."""
    spec = spec.strip()
    if spec in BUILTIN_DETECTORS or spec in wb.detectors or _ENDPOINT.match(spec):
        return spec
    return str(safe_path(wb.project.folder, spec))


def run_choices(wb: Workbench) -> dict[str, Path]:
    """Run folders offered: those given on the command line and any under PROJECT/runs."""
    out = dict(wb.runs)
    runs_dir = wb.project.folder / "runs"
    if runs_dir.is_dir():
        for sub in sorted(runs_dir.iterdir()):
            if (sub / "results.parquet").is_file() and sub.resolve().is_relative_to(
                wb.project.folder
            ):
                out.setdefault(f"runs/{sub.name}", sub.resolve())
    return out


def register_review(app: Any, wb: Workbench, page: Callable[..., Any]) -> None:
    project, sec = wb.project, wb.sec

    @app.get("/agreement")
    def agreement(a: str = "", b: str = "", field: str = "behavior") -> Any:
        report = agreement_report(project)
        people = report.annotators
        if field not in fields_of(project):
            field = "behavior"
        conf = None
        if a in people and b in people and a != b:
            conf = confusion(project, a, b, field)
        elif len(people) >= 2:
            a, b = people[0], people[1]
            conf = confusion(project, a, b, field)
        return page(
            "agreement.html",
            title="Agreement",
            report=report,
            conf=conf,
            sel_a=a,
            sel_b=b,
            sel_field=field,
            fields=fields_of(project),
            n_disagreements=len(disagreements(project)),
        )

    @app.get("/adjudicate")
    def adjudicate_list(show: str = "open") -> Any:
        rows = disagreements(project)
        if show != "all":
            rows = [r for r in rows if r["gold"] is None]
        items = [(r, project.item(r["pos"])) for r in rows[:1000]]
        return page("adjudicate_list.html", title="Adjudication", rows=items, show=show)

    @app.get("/adjudicate/{pos}")
    def adjudicate_item(pos: int) -> Any:
        ex = wb.item_or_404(pos)
        gold = project.gold().get(pos)
        ref = reference_labels(project).get(pos)
        return page(
            "adjudicate_item.html",
            title=f"Adjudicate item {pos}",
            pos=pos,
            ex=ex,
            labels=[lab for lab in project.labels_for_item(pos) if lab.behavior],
            gold=gold,
            ref=ref,
            annotators=project.annotators(),
        )

    @app.post("/adjudicate/{pos}")
    def adjudicate_save(
        pos: int,
        csrf: str = Form(""),
        version: str = Form("0"),
        behavior: str = Form(""),
        category: str = Form(""),
        comment: str = Form(""),
        adjudicator: str = Form(""),
        action: str = Form("save"),
    ) -> Any:
        require_csrf(sec, csrf)
        wb.item_or_404(pos)
        who = adjudicator or wb.annotator or ""
        if who not in project.annotators():
            raise HTTPException(400, "choose a registered annotator as adjudicator")
        try:
            expected = int(version)
        except ValueError:
            expected = -1
        try:
            if action == "clear":
                project.clear_gold(pos, expected_version=expected)
            else:
                project.set_gold(
                    pos,
                    behavior,
                    category,
                    adjudicator=who,
                    expected_version=expected,
                    comment=comment,
                )
        except Conflict as exc:
            return page(
                "error.html",
                409,
                title="Changed elsewhere",
                message=str(exc),
                link=f"/adjudicate/{pos}",
                link_text="Reload this item",
            )
        remaining = [r["pos"] for r in disagreements(project) if r["gold"] is None]
        later = [p for p in remaining if p > pos] or remaining
        target = f"/adjudicate/{later[0]}" if later else "/adjudicate"
        return RedirectResponse(target, status_code=303)

    @app.get("/model")
    def model(source: str = "", model_name: str = "") -> Any:
        from refusalkit.annotate.model_eval import compare

        result = None
        if source:
            preds = project.predictions(source)
            if not preds:
                raise HTTPException(404, "no saved predictions for that source: run it first")
            result = compare(project, preds)
        return page(
            "model.html",
            title="Model vs human",
            result=result,
            source=source,
            sources=project.prediction_sources(),
            detectors=list(dict.fromkeys([*BUILTIN_DETECTORS, *wb.detectors])),
            runs=list(run_choices(wb)),
            n_reference=len(reference_labels(project)),
        )

    @app.post("/model")
    def model_run(
        csrf: str = Form(""),
        detector: str = Form(""),
        run: str = Form(""),
        run_model: str = Form(""),
    ) -> Any:
        from refusalkit.annotate import model_eval

        require_csrf(sec, csrf)
        if detector.strip():
            spec = detector_allowed(wb, detector)
            try:
                model_eval.detector_predictions(project, spec, refresh=True)
            except RefusalkitError:
                raise
            except (OSError, ImportError, ValueError, KeyError) as exc:
                raise ConfigError(f"could not run detector {spec!r}: {exc}") from None
            source = f"detector:{spec}"
        elif run:
            runs = run_choices(wb)
            if run not in runs:
                raise ConfigError(f"unknown run {run!r}; pick one from the list")
            models = model_eval.run_models(runs[run])
            chosen = run_model if run_model in models else None
            if len(models) > 1 and chosen is None:
                chosen = models[0]
            preds = model_eval.run_predictions(project, runs[run], chosen)
            source = f"run:{run}" + (f"#{chosen}" if chosen else "")
            project.save_predictions(source, [(p, *v) for p, v in sorted(preds.items())])
        else:
            raise ConfigError("choose a detector or a run")
        from urllib.parse import quote

        return RedirectResponse(f"/model?source={quote(source, safe='')}", status_code=303)

    @app.get("/definitions")
    def definitions() -> Any:
        return page("definitions.html", title="Definitions")

    @app.get("/export")
    def export_download(kind: str = "gold", format: str = "jsonl") -> Any:
        from refusalkit.annotate.export import encoder, export_chunks

        encoder(kind, format)  # validates before the response starts
        media = "application/x-ndjson" if format == "jsonl" else "text/csv; charset=utf-8"
        headers = {"Content-Disposition": f'attachment; filename="{kind}.{format}"'}
        return StreamingResponse(
            export_chunks(project, kind, format), media_type=media, headers=headers
        )
