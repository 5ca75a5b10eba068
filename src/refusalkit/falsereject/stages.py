"""What every stage shares: resumable JSONL outputs, a bounded concurrent runner, summaries.

Records. Each stage writes one JSON line per item, keyed by a stable `id`, and carries the
previous stage's record forward, adding a block named after itself with at least
`status` and `job` (the stage's job fingerprint). Statuses:

| stage | block | statuses (passed on in bold) |
|---|---|---|
| graph | `extract` | **ok**, failed, error |
| generate | `generate` | **accepted**, rejected, failed, error |
| validate | `pool` | **kept**, dropped, error |
| orchestrate | `orchestrator` | **passed**, rejected, failed, error |
| respond | `respond` | **ok**, failed, error |

`failed` means the agent's answers stayed malformed after the bounded retries (the raw
answers are in the record); `error` means a request failed at the transport level.

Resume. Outputs are appended with `JsonlWriter(append=True)` (a line cut by a crash is
trimmed). On a rerun, items whose last record has a final status are skipped; `error`
items run again. Everything asked before is answered from the response log, so nothing is
paid twice. When the stage ends, superseded lines are compacted away (atomic rewrite). An
output written by another job (different endpoints, templates, settings) is refused unless
`overwrite`.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from refusalkit.core.errors import ConfigError, DataError
from refusalkit.core.io import (
    JsonlWriter,
    atomic_write,
    dumps,
    iter_jsonl,
    truncate_partial_last_line,
)
from refusalkit.core.progress import progress

#: stage -> (record block, statuses passed on to the next stage)
STAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "graph": ("extract", ("ok",)),
    "generate": ("generate", ("accepted",)),
    "validate": ("pool", ("kept",)),
    "orchestrate": ("orchestrator", ("passed",)),
    "respond": ("respond", ("ok",)),
}


#: fields every item record carries from stage 2 on (the later stages read them)
ITEM_FIELDS = ("prompt", "category_id", "category")


def read_records(path: str | Path) -> dict[str, dict[str, Any]]:
    """id -> last record of a stage file (a later line supersedes an earlier one)."""
    path = Path(path)
    out: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return out
    try:
        for i, rec in enumerate(iter_jsonl(path), 1):
            if not isinstance(rec, dict) or "id" not in rec:
                raise DataError("not a FalseReject stage record (no id)", file=str(path), line=i)
            out.pop(str(rec["id"]), None)  # keep file order of the latest version
            out[str(rec["id"])] = rec
    except ValueError as exc:  # orjson.JSONDecodeError
        raise DataError(
            f"not valid JSONL: {exc}", file=str(path), hint="pass the previous stage's output file"
        ) from None
    return out


def passed_on(records: dict[str, dict[str, Any]], stage: str, path: Path) -> list[dict[str, Any]]:
    """The records of a previous stage that go on to the next one."""
    block, ok = STAGES[stage]
    items = []
    for rec in records.values():
        info = rec.get(block)
        if not isinstance(info, dict):
            raise DataError(
                f"record {rec.get('id')!r} has no {block!r} block: not a {stage} output",
                file=str(path),
                hint=f"pass the output of `refusalkit falsereject {stage}`",
            )
        if info.get("status") in ok:
            missing = [k for k in ITEM_FIELDS if k not in rec] if stage != "graph" else []
            if missing:
                raise DataError(
                    f"record {rec.get('id')!r} has no {missing[0]!r} field",
                    file=str(path),
                    hint=f"pass an unmodified output of `refusalkit falsereject {stage}`",
                )
            items.append(rec)
    return items


class StageOutput:
    """An append-only stage output that knows what is already done."""

    def __init__(self, path: str | Path, stage: str, job: str, *, overwrite: bool = False) -> None:
        self.path, self.stage, self.job = Path(path), stage, job
        self.block = STAGES[stage][0]
        if overwrite and self.path.exists():
            self.path.unlink()
        if self.path.exists():  # a line cut by a crash: that item is simply redone
            truncate_partial_last_line(self.path)
        self.records = read_records(self.path)
        for rec in self.records.values():
            other = (rec.get(self.block) or {}).get("job")
            if other != job:
                raise ConfigError(
                    f"{self.path} was written by another {stage} job (settings, endpoints, "
                    f"templates or input differ: job {other} vs {job})",
                    hint="pass --overwrite to start it over, or write to another -o file",
                )
        self.done = {i for i, r in self.records.items() if r[self.block].get("status") != "error"}
        self.kept_before = len(self.done)
        self._superseded = False
        self._writer: JsonlWriter | None = None
        self.written = 0

    def write(self, record: dict[str, Any]) -> None:
        record[self.block]["job"] = self.job
        rid = str(record["id"])
        if rid in self.records:
            self._superseded = True
        self.records[rid] = record
        if self._writer is None:
            self._writer = JsonlWriter(self.path, append=True)
        self._writer.write(record)
        self._writer.flush()
        self.written += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._superseded:  # drop the lines later records replaced
            atomic_write(self.path, b"".join(dumps(r) + b"\n" for r in self.records.values()))
            self._superseded = False
        elif not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch()

    def __enter__(self) -> StageOutput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def run_items(
    items: Iterable[Any],
    worker: Callable[[Any], Awaitable[dict[str, Any] | list[dict[str, Any]]]],
    out: StageOutput,
    *,
    description: str,
    total: int,
    concurrency: int,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Run `worker` over items, at most `concurrency` at once; write its record(s) as it ends.

    A worker returns one record, or a list of them (batched stages such as the pool).
    `total` counts records, so a batch advances the bar by its size.

    Cancellation (Ctrl-C) cancels the running items; every record written so far stays.
    """
    pending: set[asyncio.Task[Any]] = set()
    it = iter(items)
    with progress(description, total) as advance:
        try:
            while True:
                while len(pending) < concurrency:
                    nxt = next(it, None)
                    if nxt is None:
                        break
                    pending.add(asyncio.ensure_future(worker(nxt)))
                if not pending:
                    return
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    result = task.result()
                    records = result if isinstance(result, list) else [result]
                    for record in records:
                        out.write(record)
                        if on_record is not None:
                            on_record(record)
                    advance(len(records))
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)


#: stage -> the stage whose output it reads
PREVIOUS = {"validate": "generate", "orchestrate": "validate", "respond": "orchestrate"}


async def run_stage_file(
    stage: str,
    source: str | Path,
    output: str | Path,
    job: str,
    worker: Callable[[Any], Awaitable[dict[str, Any] | list[dict[str, Any]]]],
    client: Any,
    *,
    endpoints: Iterable[str | None],
    configured: int | None,
    description: str,
    overwrite: bool = False,
    batch: int = 0,
    **extra: Any,
) -> StageSummary:
    """Stages 3-5: read what the previous stage passed on, run `worker` on what is not done
    yet (one item, or a list of `batch` items), write, summarise."""
    started = time.monotonic()
    if not Path(source).is_file():
        raise DataError(
            "no such file", file=str(source),
            hint=f"pass the output of `refusalkit falsereject {PREVIOUS[stage]}`",
        )  # fmt: skip
    items = passed_on(read_records(source), PREVIOUS[stage], Path(source))
    out = StageOutput(output, stage, job, overwrite=overwrite)
    try:
        todo = [r for r in items if r["id"] not in out.done]
        conc = default_concurrency(client, endpoints, configured)
        units: list[Any] = todo
        if batch:
            units = [todo[i : i + batch] for i in range(0, len(todo), batch)]
            conc = max(2, conc // batch)
        await run_items(
            units, worker, out, description=description, total=len(todo), concurrency=conc
        )
    finally:
        out.close()
    return summarize(stage, out, len(items), client, started, **extra)


def default_concurrency(
    client: Any, endpoints: Iterable[str | None], configured: int | None
) -> int:
    if configured:
        return configured
    total = sum(client.endpoint(e).max_concurrency for e in set(endpoints))
    return max(16, 4 * total)


@dataclass(slots=True)
class StageSummary:
    """Counts of one stage run, for the console, `--json` and the run folder."""

    stage: str
    output: str
    inputs: int = 0  # items this stage had to handle (passed on by the previous stage)
    kept_before: int = 0  # already done in the output before this run
    new: int = 0  # records written in this run
    status: dict[str, int] = field(default_factory=dict)  # over all items in the output
    by_category: dict[str, dict[str, int]] = field(default_factory=dict)
    calls: int = 0  # requests sent in this run
    cached: int = 0  # answered from the response log
    errors: int = 0  # failed requests
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(
    stage: str, out: StageOutput, inputs: int, client: Any, started: float, **extra: Any
) -> StageSummary:
    block = STAGES[stage][0]
    status: Counter[str] = Counter()
    by_cat: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for rec in out.records.values():
        st = rec[block].get("status", "?")
        status[st] += 1
        by_cat[str(rec.get("category") or rec.get("extract", {}).get("category") or "?")][st] += 1
    s = StageSummary(stage=stage, output=str(out.path), inputs=inputs, kept_before=out.kept_before)
    s.new = out.written
    s.status = dict(status)
    s.by_category = {k: dict(v) for k, v in sorted(by_cat.items())}
    if client is not None:
        st = client.stats
        s.calls, s.cached, s.errors = st.calls, st.cached, st.errors
        s.input_tokens, s.output_tokens, s.cost = st.input_tokens, st.output_tokens, st.cost
    s.seconds = round(time.monotonic() - started, 3)
    s.extra = extra
    return s
