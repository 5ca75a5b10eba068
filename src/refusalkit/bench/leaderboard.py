"""Leaderboards: one row per model, one column per dataset; and merging several runs.

`leaderboard_table` is the wide table of the reports (HTML/Markdown); `leaderboard_rows`
the long form written to `leaderboard.csv` and report.json (one row per model, judge,
dataset and role, with counts, rates and interval bounds). `merge_runs` puts the
results of several benchmark runs (other models, a fine-tuned model, other dates) into
one run folder, so that `refusalkit bench leaderboard RUN...` shows them side by side
and compares them prompt by prompt.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from refusalkit.bench.metrics import ALL, BENIGN, HARMFUL, BenchSummary, Rates
from refusalkit.core.errors import ConfigError
from refusalkit.reports.composition import fmt_estimate
from refusalkit.reports.document import Table

ROLE_LABEL = {BENIGN: "benign", HARMFUL: "harmful"}


def unjudged_note(r: Rates | None) -> str:
    if r is None or not r.counts.unjudged:
        return "0"
    c = r.counts
    parts = [(c.gen_error, "errors"), (c.blocked, "blocked"), (c.empty, "empty"),
             (c.judge_failed, "judge failed")]  # fmt: skip
    return f"{c.unjudged} (" + ", ".join(f"{n} {w}" for n, w in parts if n) + ")"


def leaderboard_table(summary: BenchSummary, judge: str | None = None) -> Table:
    """Models x (pooled benign/harmful, then each dataset's headline metric)."""
    judge = judge or summary.primary or ""
    roles = summary.roles()
    cols = ["model"]
    if BENIGN in roles:
        cols += ["benign compliance [95% CI]", "benign USR [95% CI]"]
    if HARMFUL in roles:
        cols += ["harmful USR [95% CI]"]
    cols += [f"{ds} ({'compliance' if role == BENIGN else 'USR'})" for ds, role in summary.datasets]
    cols += ["answers", "unjudged"]
    rows = []
    for system in summary.systems:
        row: list[Any] = [system]
        ben = summary.pooled.get((system, judge, BENIGN))
        harm = summary.pooled.get((system, judge, HARMFUL))
        if BENIGN in roles:
            row += [
                fmt_estimate(ben.compliance) if ben else "–",
                fmt_estimate(ben.usr) if ben else "–",
            ]
        if HARMFUL in roles:
            row.append(fmt_estimate(harm.usr) if harm else "–")
        for ds, role in summary.datasets:
            cell = summary.cells.get((system, judge, ds, role))
            row.append(fmt_estimate(cell.headline) if cell else "–")
        total = sum(r.counts.total for r in (ben, harm) if r)
        unj = [r for r in (ben, harm) if r]
        row += [f"{total:,}", "; ".join(unjudged_note(r) for r in unj if r.counts.unjudged) or "0"]
        rows.append(row)
    return Table(
        columns=cols,
        rows=rows,
        caption=f"Judge: {judge}. Benign: compliance = Full Compliance share, USR = 1 − Direct "
        "Refusal share; harmful: USR = Direct Refusal + Safe Partial Compliance. Unjudged "
        "answers are excluded from every rate.",
        numeric=tuple(range(1, len(cols) - 1)),
    )


def by_judge_table(summary: BenchSummary) -> Table:
    """The pooled headline numbers of every model under every judge."""
    rows = []
    for system in summary.systems:
        for judge in summary.judges:
            ben = summary.pooled.get((system, judge, BENIGN))
            harm = summary.pooled.get((system, judge, HARMFUL))
            rows.append([system, judge,
                         fmt_estimate(ben.compliance) if ben else "–",
                         fmt_estimate(ben.usr) if ben else "–",
                         fmt_estimate(harm.usr) if harm else "–",
                         unjudged_note(ben) if ben else "–", unjudged_note(harm) if harm else "–"])  # fmt: skip
    return Table(
        columns=[
            "model",
            "judge",
            "benign compliance",
            "benign USR",
            "harmful USR",
            "unjudged (benign)",
            "unjudged (harmful)",
        ],
        rows=rows,
        caption="The same answers under each judge",
        numeric=(2, 3, 4),
    )


def leaderboard_rows(summary: BenchSummary) -> list[dict[str, Any]]:
    """Long form: one row per model, judge, dataset (ALL = pooled) and role."""
    out = []
    scopes = [*summary.datasets, *((ALL, r) for r in summary.roles())]
    for system in summary.systems:
        for judge in summary.judges:
            for ds, role in scopes:
                r = (
                    summary.pooled.get((system, judge, role))
                    if ds == ALL
                    else summary.cells.get((system, judge, ds, role))
                )
                if r is None:
                    continue
                d = r.to_dict()
                out.append({
                    "model": system, "served_model": ";".join(summary.models.get(system, [])),
                    "judge": judge, "dataset": ds, "role": role,
                    **{k: d[k] for k in ("total", "judged", "items", "full_compliance",
                                         "safe_partial", "direct_refusal", "gen_errors",
                                         "blocked", "empty", "judge_failures")},
                    "compliance_rate": d["compliance_rate"]["rate"],
                    "compliance_low": d["compliance_rate"]["low"],
                    "compliance_high": d["compliance_rate"]["high"],
                    "usr": d["usr"]["rate"], "usr_low": d["usr"]["low"], "usr_high": d["usr"]["high"],
                    "ci": r.ci,
                })  # fmt: skip
    return out


def _csv_cell(v: Any) -> Any:
    # Spreadsheet formula injection: model and dataset names come from users.
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return "" if v is None else v


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return ""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _csv_cell(v) for k, v in r.items()})
    return buf.getvalue()


# ---------------------------------------------------------------------------- merging


def _labels(run_dirs: Sequence[Path], names: Sequence[str] | None) -> list[dict[str, str]]:
    """Per run: endpoint -> system label (see `merge_runs`)."""
    from refusalkit.bench.metrics import iter_rows

    systems = [
        list(dict.fromkeys(r["system"] for r in iter_rows(d, columns=("model_label", "endpoint"))))
        for d in run_dirs
    ]
    count: dict[str, int] = {}
    for s in systems:
        for x in s:
            count[x] = count.get(x, 0) + 1
    out = []
    for i, (d, s) in enumerate(zip(run_dirs, systems, strict=True)):
        name = names[i] if names else None
        if name:
            out.append({x: name if len(s) == 1 else f"{name}/{x}" for x in s})
        else:
            out.append({x: x if count[x] == 1 else f"{d.name}/{x}" for x in s})
    return out


def merge_runs(
    run_dirs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    names: Sequence[str] | None = None,
    judge: str | None = None,
) -> dict[str, Any]:
    """Merge benchmark runs into one run folder (results.parquet + run.json + report).

    Systems are named by endpoint; an endpoint found in several runs is prefixed with its
    run folder's name, and `names` (one per run) name a run's model (or prefix its
    endpoints when it has several). The primary judge (`judge`, default: the first run's)
    must have judged every run (`refusalkit bench rejudge` adds a judge to a run).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from refusalkit.bench.run import KIND, judge_spec
    from refusalkit.reports.results import new_run_info, read_run_json, results_path, write_run_json

    dirs = [Path(d) for d in run_dirs]
    if names and len(names) != len(dirs):
        raise ConfigError(f"{len(names)} --name for {len(dirs)} runs",
                          hint="give one --name per RUN, in the same order")  # fmt: skip
    infos = [read_run_json(d) for d in dirs]
    for d, info in zip(dirs, infos, strict=True):
        if info.get("kind") != KIND:
            raise ConfigError(f"{d} is a {info.get('kind')!r} run, not a benchmark run",
                              hint="pass folders written by `refusalkit bench`")  # fmt: skip
    labels = _labels(dirs, names)
    tables = []
    for d, lab in zip(dirs, labels, strict=True):
        t = pq.read_table(str(results_path(d)))
        src = t.column("model_label" if "model_label" in t.column_names else "endpoint")
        col = pa.array([lab.get(s, s) for s in src.to_pylist()], pa.string())
        if "model_label" in t.column_names:
            t = t.set_column(t.column_names.index("model_label"), "model_label", col)
        else:
            t = t.append_column("model_label", col)
        tables.append(t)
    wanted = judge_spec(judge) if judge else None
    run_judges = [[j["name"] for j in i.get("judges", [])] for i in infos]
    primary = wanted or (run_judges[0][0] if run_judges[0] else None)
    missing = [str(d) for d, js in zip(dirs, run_judges, strict=True) if primary not in js]
    if missing:
        raise ConfigError(f"judge {primary!r} did not judge {', '.join(missing)}",
                          hint=f"refusalkit bench rejudge RUN --judge {primary}, or pick "
                          "another --judge")  # fmt: skip
    merged = pa.concat_tables(tables, promote_options="default")
    keys = list(
        zip(
            *(
                merged.column(c).to_pylist()
                for c in ("model_label", "detector", "dataset", "item_id", "sample")
            ),
            strict=True,
        )
    )
    if len(set(keys)) != len(keys):
        raise ConfigError("two runs hold answers of the same model to the same prompts",
                          hint="name the runs apart with --name, one per RUN")  # fmt: skip
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        merged.replace_schema_metadata(tables[0].schema.metadata), str(out / "results.parquet")
    )
    judges: list[dict[str, Any]] = []
    for info in infos:
        for j in info.get("judges", []):
            if all(j["name"] != k["name"] for k in judges):
                judges.append(j)
    judges.sort(key=lambda j: j["name"] != primary)
    info = new_run_info(
        KIND,
        merged_from=[{"path": str(d), "name": n, "created": i.get("created"), "systems": lab}
                     for d, i, n, lab in zip(dirs, infos, names or [None] * len(dirs), labels, strict=True)],
        judges=judges,
        datasets=list({ds["name"]: ds for i in infos for ds in i.get("datasets", [])}.values()),
        endpoints=[e for i in infos for e in i.get("endpoints", [])],
        status="done",
    )  # fmt: skip
    write_run_json(out, info)
    from refusalkit.bench.report import rerender

    rerender(out)
    return info
