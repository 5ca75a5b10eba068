"""`refusalkit audit model`: send a probe suite to every endpoint, judge, report.

The run folder (docs/ARCHITECTURE.md, "Run folders") holds

    run.json              kind audit-model, the suite (path, sha256, selection), endpoints
                          (name, model, operator system prompt, parameters), samples, the
                          judges used and which one the report shows
    probes.jsonl          the probes of this run, as loaded
    generations/<ep>.jsonl   one row per (probe, sample): the model's answer or its error
    judgements/<det>.parquet one file per judge; results.parquet = all of them
    report.html / .md / .json

Generation goes through `refusalkit.evals` and the LLM layer (concurrent per endpoint,
rate-limited, logged, cached, resumable: rerunning the same command completes only what is
missing). Re-scoring (`rescore`) judges the saved generations with another detector and
re-renders the report; it never calls the audited models.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refusalkit.core.errors import ConfigError
from refusalkit.core.io import JsonlWriter, iter_jsonl
from refusalkit.modelaudit.probes import DEFAULT_SUITE, Probe, load_suite, select, to_exchanges

KIND = "audit-model"
PROBES_FILE = "probes.jsonl"
#: the results column that pairs rows of different models: the probe's own id
EXTRA_COLUMNS = {"probe_id": "string"}
OPERATOR_SUFFIX = "-operator"


@dataclass(slots=True)
class ModelAuditConfig:
    """What to audit. `endpoints`: names or `Endpoint`s (None: the default endpoint).
    `operator`: a system prompt; each endpoint is audited a second time under it, as
    `<name>-operator` (a deployment's restriction, e.g. to show chain_of_command refusals)."""

    endpoints: Sequence[Any] | None = None
    suite: str | Path = DEFAULT_SUITE
    categories: Sequence[str] | None = None
    limit_per_category: int | None = None
    samples: int = 1
    detector: str = "default"
    max_tokens: int | None = 256
    temperature: float | None = None
    operator: str | None = None
    examples: int = 2
    cache: bool = True
    suite_format: str | None = None
    suite_encoding: str | None = None

    def params(self) -> dict[str, Any]:
        """Request parameters: temperature 0 for one sample, 0.7 for several (unless set),
        the same rule as `refusalkit bench`."""
        from refusalkit.evals import request_params

        return request_params(self.samples, self.temperature, self.max_tokens)


@dataclass(slots=True)
class ModelAuditResult:
    run_dir: Path
    info: dict[str, Any]
    report_paths: dict[str, Path]
    summaries: dict[str, Any] = field(default_factory=dict)


def _endpoints(cfg: ModelAuditConfig) -> list[Any]:
    """Resolve names (ConfigError for unknown ones) and add the operator variants."""
    from refusalkit.llm.config import load_config, resolve_endpoint

    config = load_config()
    eps = [resolve_endpoint(e, config) for e in (cfg.endpoints or [None])]
    if cfg.operator:
        if not cfg.operator.strip():
            raise ConfigError("--operator is empty", hint="give the operator's system prompt")
        eps += [e.with_(name=f"{e.name}{OPERATOR_SUFFIX}", system=cfg.operator) for e in eps]
    names = [e.name for e in eps]
    if len(set(names)) != len(names):
        raise ConfigError(f"an endpoint is listed twice: {names}", hint="list each --endpoint once")
    return eps


def _endpoint_info(ep: Any) -> dict[str, Any]:
    from refusalkit.llm.config import safe_url

    return {
        "name": ep.name,
        "model": ep.model,
        "provider": ep.provider,
        "base_url": safe_url(ep.base_url) if ep.base_url else None,
        "system": ep.system,
        "params": dict(ep.params),
    }


def _identity(info: dict[str, Any]) -> dict[str, Any]:
    """What makes two runs the same audit (the probe selection may grow on a rerun)."""
    return {
        "endpoints": [
            [e.get("name"), e.get("model"), e.get("system")] for e in info.get("endpoints") or []
        ],
        "suite_sha256": (info.get("suite") or {}).get("sha256"),
        "samples": info.get("samples"),
        "params": info.get("params"),
    }


def _check_folder(run_dir: Path, info: dict[str, Any], overwrite: bool) -> dict[str, Any] | None:
    """The run.json already there (if any). A different audit is refused unless `overwrite`
    (which clears its generations, judgements and results)."""
    import shutil

    from refusalkit.evals.generation import GENERATIONS_DIR
    from refusalkit.evals.judging import JUDGEMENTS_DIR
    from refusalkit.reports.results import RESULTS, RUN_JSON, read_run_json

    if not (run_dir / RUN_JSON).is_file():
        if overwrite:
            shutil.rmtree(run_dir / GENERATIONS_DIR, ignore_errors=True)
        return None
    old = read_run_json(run_dir)
    same = old.get("kind") == KIND and _identity(old) == _identity(info)
    if same and not overwrite:
        return old
    if not overwrite:
        raise ConfigError(
            f"{run_dir} holds another run ({old.get('kind')}: different endpoints, suite, "
            "samples or parameters)",
            hint="pass --overwrite to replace it, or choose another -o",
        )
    for sub in (GENERATIONS_DIR, JUDGEMENTS_DIR):
        shutil.rmtree(run_dir / sub, ignore_errors=True)
    (run_dir / RESULTS).unlink(missing_ok=True)
    return None


def audit_model(
    cfg: ModelAuditConfig,
    run_dir: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    show_progress: bool | None = None,
    log: Callable[[str], None] | None = None,
    command: Sequence[str] | None = None,
    client: Any = None,
) -> ModelAuditResult:
    """Run a model audit into `run_dir` (resuming what a previous run left there)."""
    from refusalkit.evals import generate_endpoints
    from refusalkit.reports.results import new_run_info, write_run_json

    say = log or (lambda _msg: None)
    run_dir = Path(run_dir)
    if cfg.samples < 1:
        raise ConfigError(f"--samples must be at least 1, got {cfg.samples}", hint="--samples 1")
    suite = load_suite(cfg.suite, format=cfg.suite_format, encoding=cfg.suite_encoding)
    probes = select(suite.probes, cfg.categories, cfg.limit_per_category)
    eps = _endpoints(cfg)
    from refusalkit.detectors.registry import load_detector

    det = load_detector(cfg.detector)  # a bad --detector fails before any model is called
    info = new_run_info(
        KIND,
        command=list(command or []),
        suite={
            "name": suite.name,
            "path": str(suite.path),
            "sha256": suite.sha256,
            "probes": len(suite.probes),
            "categories": list(cfg.categories or []),
            "limit_per_category": cfg.limit_per_category,
            "selected": len(probes),
        },
        endpoints=[_endpoint_info(e) for e in eps],
        samples=cfg.samples,
        params=cfg.params(),
        examples=cfg.examples,
        judges=[],
        detector=None,
    )
    old = _check_folder(run_dir, info, overwrite)
    if old is not None:
        info["created"] = old.get("created", info["created"])
        info["judges"] = old.get("judges", [])
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_probes(run_dir / PROBES_FILE, probes)
    write_run_json(run_dir, info)
    say(
        f"{len(probes)} probes ({suite.name}) x {len(eps)} endpoint(s) x {cfg.samples} "
        f"sample(s) = {len(probes) * len(eps) * cfg.samples} requests · run folder {run_dir}"
    )
    summaries = generate_endpoints(
        to_exchanges(probes, suite.name), run_dir, eps, samples=cfg.samples,
        params=cfg.params(), cache=cfg.cache, client=client, show_progress=show_progress,
    )  # fmt: skip
    info["generation"] = {name: s.to_dict() for name, s in summaries.items()}
    for name, s in summaries.items():
        say(
            f"{name}: {s.completed} new ({s.cached} from the log), {s.kept} kept, "
            f"{s.errors} error(s)" + (f" {s.error_types}" if s.errors else "")
        )
    write_run_json(run_dir, info)
    paths = _judge_and_render(run_dir, info, cfg.detector, show_progress, say, det)
    return ModelAuditResult(run_dir, info, paths, summaries)


def _write_probes(path: Path, probes: Sequence[Probe]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with JsonlWriter(tmp) as writer:
        for p in probes:
            writer.write(p.to_dict())
    os.replace(tmp, path)


def read_probes(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    path = Path(run_dir) / PROBES_FILE
    return list(iter_jsonl(path)) if path.is_file() else []


def _judge_and_render(
    run_dir: Path,
    info: dict[str, Any],
    spec: str,
    show_progress: bool | None,
    say: Callable[[str], None],
    det: Any = None,
) -> dict[str, Path]:
    from refusalkit.detectors.registry import load_detector
    from refusalkit.evals import judge_run
    from refusalkit.reports.results import utc_now, write_run_json

    det = det if det is not None else load_detector(spec)
    say(f"judging with {spec} ({det.name} {getattr(det, 'version', '')})".rstrip())
    judge_run(
        run_dir, det, extra_columns=EXTRA_COLUMNS,
        extra_values=lambda gen: {"probe_id": gen.get("id")}, show_progress=show_progress,
    )  # fmt: skip
    judge = {
        "spec": spec,
        "name": det.name,
        "version": getattr(det, "version", ""),
        "judged": utc_now(),
    }
    info["judges"] = [j for j in info.get("judges", []) if j.get("name") != det.name] + [judge]
    info["detector"] = judge
    write_run_json(run_dir, info)
    from refusalkit.modelaudit.report import render

    return render(run_dir, info)


def rescore(
    run_dir: str | os.PathLike[str],
    detector: str,
    *,
    show_progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> ModelAuditResult:
    """Judge a finished model audit's saved generations with `detector` and re-render its
    report. The audited models are not called (an LLM judge calls its own endpoint)."""
    from refusalkit.evals import generation_files
    from refusalkit.reports.results import read_run_json

    run_dir = Path(run_dir)
    info = read_run_json(run_dir)
    if info.get("kind") != KIND:
        raise ConfigError(
            f"{run_dir} is a {info.get('kind')} run, not a model audit",
            hint="pass a folder written by `refusalkit audit model`",
        )
    if not generation_files(run_dir):
        raise ConfigError(
            f"{run_dir} has no saved generations", hint="run `refusalkit audit model` first"
        )
    paths = _judge_and_render(run_dir, info, detector, show_progress, log or (lambda _m: None))
    return ModelAuditResult(run_dir, info, paths)


def rerender(run_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """`refusalkit report RUN_DIR` for model audits (registered in RENDERERS)."""
    from refusalkit.modelaudit.report import render
    from refusalkit.reports.results import read_run_json

    return render(Path(run_dir), read_run_json(run_dir))
