"""Probe suites: prompts that should be refused and matched prompts that should be answered.

A probe is a prompt with the refusal `category` it tests (one of the taxonomy's refusal
categories), the behaviour a well-calibrated assistant shows (`expected`: `refuse` or
`comply`) and an optional `system` prompt it is sent with (chain_of_command probes carry
the operator prompt they test). Refuse and comply probes of one category are measured
together, so a model that refuses everything and one that refuses nothing both show up.

The default suite ships in `resources/probes/default.jsonl` (built by
`scripts/build_probe_suite.py`); users pass any file the dataset readers support with
`prompt`, `category` and `expected` columns. Every problem in a user file is reported with
its file, line/row, field and the fix, never skipped silently.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refusalkit.core.errors import ConfigError, DataError
from refusalkit.core.models import Exchange
from refusalkit.core.paths import resource_path
from refusalkit.evals import EXPECTED_VALUES, ITEM_CATEGORY, ITEM_DATASET, ITEM_EXPECTED

DEFAULT_SUITE = "default"
_EXPECTED_ALIASES = {"refuse": "refuse", "comply": "comply"}
_SYSTEM_FIELDS = ("system", "system_prompt")
_HINT = (
    "a probe file needs the columns prompt, category (a refusal category: `refusalkit taxonomy "
    "show`) and expected (refuse | comply), optionally id, system, source and license; see "
    "docs/model-audit.md"
)


@dataclass(frozen=True, slots=True)
class Probe:
    """One probe. `extra` keeps the row's other fields (source, license, origin, ...)."""

    id: str
    prompt: str
    category: str
    expected: str
    system: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "prompt": self.prompt,
            "category": self.category,
            "expected": self.expected,
            "system": self.system,
            **self.extra,
        }


@dataclass(slots=True)
class ProbeSuite:
    """A loaded suite: its probes in file order, where they came from and a content hash."""

    name: str
    path: Path
    probes: list[Probe]
    sha256: str

    def categories(self) -> list[str]:
        return list(dict.fromkeys(p.category for p in self.probes))


def default_suite_path() -> Path:
    return resource_path("probes", "default.jsonl")


def _refusal_categories() -> list[str]:
    from refusalkit.taxonomy import load_taxonomy

    return list(load_taxonomy().refusal_ids)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN from a CSV/Parquet gap
        return None
    return str(value)


def _problem(rec: Any, field_name: str | None, problem: str, hint: str) -> DataError:
    return DataError(
        problem, file=rec.file, line=rec.line, row=rec.row, field=field_name, hint=hint
    )


def _parse(rec: Any, categories: list[str], stem: str) -> Probe:
    data = rec.data or {}
    missing = [f for f in ("prompt", "category", "expected") if f not in data]
    if missing:
        raise DataError(
            f"no {', '.join(repr(m) for m in missing)} column",
            file=rec.file, line=rec.line, row=rec.row, found_fields=list(data), hint=_HINT,
        )  # fmt: skip
    prompt = _text(data["prompt"])
    if not prompt or not prompt.strip():
        raise _problem(rec, "prompt", "the prompt is empty", "give every probe a prompt")
    category = (_text(data["category"]) or "").strip()
    if category not in categories:
        close = difflib.get_close_matches(category, categories, n=1)
        raise _problem(
            rec, "category",
            f"{category!r} is not a refusal category of the taxonomy"
            + (f" (did you mean {close[0]!r}?)" if close else ""),
            f"use one of: {', '.join(categories)}",
        )  # fmt: skip
    expected = _EXPECTED_ALIASES.get((_text(data["expected"]) or "").strip().lower())
    if expected is None:
        raise _problem(
            rec, "expected", f"{data['expected']!r} is not refuse or comply",
            "expected = refuse (a good assistant declines) or comply (it should answer)",
        )  # fmt: skip
    system = next((_text(data[f]) for f in _SYSTEM_FIELDS if data.get(f) is not None), None)
    if system is not None and not system.strip():
        system = None
    pid = _text(data.get("id"))
    if pid is None or not pid.strip():
        pid = f"{stem}-{rec.row}"
    skip = {"id", "prompt", "category", "expected", *_SYSTEM_FIELDS}
    extra = {k: v for k, v in data.items() if k not in skip and _text(v) is not None}
    return Probe(pid.strip(), prompt, category, expected, system, extra)


def load_suite(spec: str | Path = DEFAULT_SUITE, *, format: str | None = None,
               encoding: str | None = None, max_problems: int = 5) -> ProbeSuite:  # fmt: skip
    """Load and validate a probe suite: `default` (bundled) or a path to any dataset file.

    Raises `DataError` naming the file, line/row, field and fix of the first problem, and
    how many more rows have problems (up to `max_problems` are listed).
    """
    from refusalkit.readers import iter_records

    if str(spec) == DEFAULT_SUITE:
        path, name = default_suite_path(), DEFAULT_SUITE
    else:
        path = Path(spec).expanduser()
        if not path.exists():
            raise ConfigError(
                f"probe suite {str(spec)!r} does not exist",
                hint="--suite default, or the path of a probe file (JSONL, CSV, Parquet, ...)",
            )
        name = path.name.split(".")[0] or path.name
    categories = _refusal_categories()
    probes: list[Probe] = []
    problems: list[DataError] = []
    first_row: dict[str, int] = {}
    for rec in iter_records(path, format=format, encoding=encoding):
        try:
            probe = _parse(rec, categories, name)
            if probe.id in first_row:
                raise _problem(
                    rec, "id", f"id {probe.id!r} was already used in row {first_row[probe.id]}",
                    "give every probe its own id (or leave the id column empty)",
                )  # fmt: skip
        except DataError as exc:
            if exc.found_fields is not None:  # a missing column: every row has it
                raise
            problems.append(exc)
            continue
        first_row[probe.id] = rec.row
        probes.append(probe)
    if problems:
        first = problems[0]
        more = [f"  {p.message.splitlines()[0]}" for p in problems[1:max_problems]]
        if len(problems) > max_problems:
            more.append(f"  ... and {len(problems) - max_problems} more")
        if more:
            first.message += f"\n{len(problems) - 1} more row(s) with problems:\n" + "\n".join(more)
            first.args = (first.message,)
        raise first
    if not probes:
        raise DataError("the probe file has no rows", file=str(path), hint=_HINT)
    return ProbeSuite(name, path, probes, _sha256(path))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def select(
    probes: Sequence[Probe],
    categories: Iterable[str] | None = None,
    limit_per_category: int | None = None,
) -> list[Probe]:
    """Probes of `categories` (all when None), at most `limit_per_category` refuse probes
    and as many comply probes per category, in suite order (so matched pairs stay)."""
    present = list(dict.fromkeys(p.category for p in probes))
    wanted = None
    if categories is not None:
        wanted = []
        for c in categories:
            for part in str(c).split(","):
                if part.strip():
                    wanted.append(part.strip())
        unknown = [c for c in wanted if c not in present]
        if unknown:
            raise ConfigError(
                f"the probe suite has no probes of categor{'y' if len(unknown) == 1 else 'ies'} "
                f"{', '.join(unknown)}",
                hint=f"--categories takes: {', '.join(present)}",
            )
    if limit_per_category is not None and limit_per_category < 1:
        raise ConfigError("--limit-per-category must be at least 1", hint="e.g. 5")
    counts: dict[tuple[str, str], int] = {}
    out = []
    for p in probes:
        if wanted is not None and p.category not in wanted:
            continue
        key = (p.category, p.expected)
        if limit_per_category is not None and counts.get(key, 0) >= limit_per_category:
            continue
        counts[key] = counts.get(key, 0) + 1
        out.append(p)
    return out


def to_exchanges(probes: Sequence[Probe], dataset: str) -> list[Exchange]:
    """The exchanges the evals core sends: metadata carries dataset, category, expected."""
    assert set(EXPECTED_VALUES) == {"refuse", "comply"}
    return [
        Exchange(
            id=p.id,
            prompt=p.prompt,
            system=p.system,
            metadata={ITEM_DATASET: dataset, ITEM_CATEGORY: p.category, ITEM_EXPECTED: p.expected},
        )
        for p in probes
    ]
