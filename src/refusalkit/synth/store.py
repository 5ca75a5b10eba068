"""The run folder of `refusalkit synth`: append-only stage files plus the final dataset.

    DIR/synth.json          the run's identity (endpoint, model, templates, parameters)
                            and the last configuration used
    DIR/instructions.jsonl  one row per accepted instruction (item id, topic, phrasing, ...)
    DIR/responses.jsonl     one row per accepted refusal / compliant reply
    DIR/failures.jsonl      one row per item stage that failed, with every attempt's raw text
    DIR/data.jsonl          the de-duplicated, balanced dataset (rewritten at the end)
    DIR/summary.json        counts per category and stage, calls, tokens, cost

Stage files are only appended to (`JsonlWriter(append=True)` trims a line cut short by a
crash), and each row carries its item's stable id, so a rerun knows exactly what is
finished. A failure is *final* when the writer's output stayed malformed after every
attempt (re-asking would replay the same answers from the log); a request that failed
in transport (server down, timeouts) is recorded as not final and asked again next run.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refusalkit._version import __version__
from refusalkit.core.errors import ConfigError
from refusalkit.core.io import JsonlWriter, atomic_write, dumps_pretty, iter_jsonl, loads
from refusalkit.core.io import truncate_partial_last_line as _trim

MANIFEST = "synth.json"
FILES = ("instructions.jsonl", "responses.jsonl", "failures.jsonl", "data.jsonl", "summary.json")


@dataclass(slots=True)
class RunState:
    """What the stage files say is done."""

    instructions: dict[str, dict[str, Any]] = field(default_factory=dict)
    responses: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: (item id, stage) -> the latest final failure row
    final_failures: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    #: (item id, stage) -> the latest transport failure row (retried on the next run)
    transient: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def done(self, item: str, stage: str) -> bool:
        if stage == "instruction":
            ok = item in self.instructions
        else:
            ok = f"{item}:{stage}" in self.responses
        return ok or (item, stage) in self.final_failures


class RunFolder:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def file(self, name: str) -> Path:
        return self.path / name

    # -------------------------------------------------------------- identity
    def prepare(self, identity: dict[str, Any], config: dict[str, Any], *, overwrite: bool) -> None:
        """Create the folder, or check that its items were made the same way."""
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"{self.path} is a file, not a folder", hint="choose another -o")
        manifest = self.file(MANIFEST)
        if overwrite:
            for name in (MANIFEST, *FILES):
                self.file(name).unlink(missing_ok=True)
            shutil.rmtree(self.path / "tmp", ignore_errors=True)
        elif manifest.exists():
            old = loads(manifest.read_bytes()).get("identity", {})
            changed = sorted(k for k in set(old) | set(identity) if old.get(k) != identity.get(k))
            if changed:
                details = "; ".join(f"{k}: {old.get(k)!r} -> {identity.get(k)!r}" for k in changed)
                raise ConfigError(
                    f"{self.path} holds items made differently ({details})",
                    hint="rerun with the same settings to resume, pass --overwrite to start "
                    "over, or choose another -o",
                )
        elif any(self.file(n).exists() for n in FILES):
            raise ConfigError(
                f"{self.path} holds synth files but no {MANIFEST}",
                hint="pass --overwrite to start over, or choose another -o",
            )
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write(
            manifest,
            dumps_pretty({"refusalkit": __version__, "identity": identity, "config": config})
            + "\n",
        )

    # -------------------------------------------------------------- reading
    def _rows(self, name: str) -> Iterator[dict[str, Any]]:
        path = self.file(name)
        if path.exists() and path.stat().st_size:
            _trim(path)
            yield from iter_jsonl(path)

    def read_state(self) -> RunState:
        state = RunState()
        for row in self._rows("instructions.jsonl"):
            state.instructions[row["id"]] = row
        for row in self._rows("responses.jsonl"):
            state.responses[row["id"]] = row
        for row in self._rows("failures.jsonl"):
            key = (row["item"], row["stage"])
            (state.final_failures if row.get("final") else state.transient)[key] = row
        for key in list(state.transient):  # superseded by a later success
            if state.done(*key):
                del state.transient[key]
        return state

    # -------------------------------------------------------------- writing
    @contextmanager
    def writers(self) -> Iterator[dict[str, JsonlWriter]]:
        names = {"instruction": "instructions.jsonl", "response": "responses.jsonl",
                 "failure": "failures.jsonl"}  # fmt: skip
        opened = {k: JsonlWriter(self.file(v), append=True) for k, v in names.items()}
        try:
            yield opened
        finally:
            for w in opened.values():
                w.close()

    def write_dataset(self, rows: list[dict[str, Any]]) -> Path:
        """Replace data.jsonl atomically (readers never see half a dataset)."""
        path = self.file("data.jsonl")
        tmp = self.path / f".{path.name}.tmp"
        with JsonlWriter(tmp) as w:
            w.write_many(rows)
        tmp.replace(path)
        return path

    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic_write(self.file("summary.json"), dumps_pretty(summary) + "\n")

    def read_summary(self) -> dict[str, Any] | None:
        path = self.file("summary.json")
        return loads(path.read_bytes()) if path.exists() else None
