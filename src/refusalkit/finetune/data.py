"""SFT examples for `refusalkit finetune`: FalseReject exports, chat files and a general mix.

Every example becomes an OpenAI-style `messages` list (system?, user, assistant, ...);
the trainer computes the loss on assistant turns only. Sources:

- a FalseReject export (`refusalkit falsereject export`, or the public FalseReject files):
  rows with `prompt` and `instruct_response` (`--format instruct`) or `cot_response`
  `{reasoning_content, solution}` (`--format cot`: the reasoning goes inside
  `<think>...</think>` before the answer, the layout reasoning models are trained on);
- any chat or prompt/response file the readers understand (the export's SFT-ready
  `messages` JSONL, ShareGPT, Alpaca, Dolly, ...): each conversation is one example with
  all its assistant turns;
- `--mix`: general instruction data, sampled (reservoir, seeded) to `mix_ratio` x the
  number of FalseReject examples, so the model keeps its general helpfulness.

This module is torch-free; files are read through `refusalkit.readers`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refusalkit.core.errors import ConfigError, DataError
from refusalkit.core.models import Exchange
from refusalkit.falsereject.export import cot_text

FORMATS = ("instruct", "cot")
EXPORT_FILE = "falsereject.jsonl"  # what `refusalkit falsereject export` writes


@dataclass(slots=True)
class Example:
    messages: list[dict[str, str]]
    source: str  # "data" | "mix"
    origin: str  # file:row

    def to_dict(self) -> dict[str, Any]:
        return {"messages": self.messages, "source": self.source, "origin": self.origin}


@dataclass(slots=True)
class DataStats:
    data_examples: int = 0
    mix_examples: int = 0
    mix_available: int = 0
    files: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"data_examples": self.data_examples, "mix_examples": self.mix_examples,
                "mix_available": self.mix_available, "files": dict(self.files)}  # fmt: skip


def _falsereject_answer(ex: Exchange, fmt: str) -> str | None:
    """The assistant text of a FalseReject-schema row, or None if it is not one."""
    meta = ex.metadata or {}
    if "instruct_response" not in meta and "cot_response" not in meta:
        return None
    where = ex.source.describe()
    if fmt == "instruct":
        text = meta.get("instruct_response")
        if not isinstance(text, str) or not text.strip():
            raise DataError(
                "no instruct_response text", file=ex.source.file, line=ex.source.line,
                row=ex.source.row, field="instruct_response", found_fields=list(meta),
                hint="this row may only have a CoT answer: use --format cot",
            )  # fmt: skip
        return text.strip()
    cot = meta.get("cot_response")
    if isinstance(cot, str):  # some copies store it as JSON text
        from refusalkit.core.io import loads

        try:
            cot = loads(cot)
        except ValueError:
            cot = None
    if not isinstance(cot, dict) or not isinstance(cot.get("solution"), str):
        raise DataError(
            f"no cot_response {{reasoning_content, solution}} ({where})", file=ex.source.file,
            line=ex.source.line, row=ex.source.row, field="cot_response", found_fields=list(meta),
            hint="use --format instruct for rows without a CoT answer",
        )  # fmt: skip
    return cot_text(str(cot.get("reasoning_content") or ""), cot["solution"])


def _conversations(
    paths: Sequence[Path], reader_kw: dict[str, Any]
) -> Iterator[tuple[Exchange, bool]]:
    """Exchanges, with a flag saying whether it is the last assistant turn of its row."""
    from refusalkit.readers import read_exchanges

    with read_exchanges(list(paths), **reader_kw) as stream:
        prev: Exchange | None = None
        for ex in stream:
            if prev is not None:
                same_row = (prev.source.file, prev.source.row, prev.source.side) == (
                    ex.source.file, ex.source.row, ex.source.side)  # fmt: skip
                yield prev, not same_row
            prev = ex
        if prev is not None:
            yield prev, True


def _export_file(path: Path) -> Path:
    """A `refusalkit falsereject export` folder stands for its `falsereject.jsonl` (the
    schema file; its `sft_*.jsonl` hold the same answers again, so reading the whole folder
    would train every example twice)."""
    if path.is_dir() and (path / EXPORT_FILE).is_file():
        return path / EXPORT_FILE
    return path


def _messages(ex: Exchange, answer: str) -> list[dict[str, str]]:
    return [*ex.messages(), {"role": "assistant", "content": answer}]


def read_examples(
    paths: Sequence[str | Path],
    *,
    fmt: str = "instruct",
    source: str = "data",
    reader_kw: dict[str, Any] | None = None,
    limit: int | None = None,
) -> Iterator[Example]:
    """Examples from FalseReject-schema or chat/prompt-response files (see module doc)."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown --format {fmt!r}", hint="--format instruct or --format cot")
    n = 0
    for ex, last in _conversations([_export_file(Path(p)) for p in paths], reader_kw or {}):
        if not last:  # a later turn of the same conversation carries this one as context
            continue
        answer = _falsereject_answer(ex, fmt)
        if answer is None:
            if ex.source.side == "rejected":
                continue  # preference data: train on the chosen side only
            answer = ex.response.strip()
            if not answer:
                raise DataError(
                    "the row has no assistant answer to train on", file=ex.source.file,
                    line=ex.source.line, row=ex.source.row, found_fields=list(ex.metadata or {}),
                    hint="SFT data needs instruct_response / cot_response (FalseReject) or a "
                    "response column (--response-field)",
                )  # fmt: skip
        yield Example(_messages(ex, answer), source, f"{ex.source.file}:{ex.source.row}")
        n += 1
        if limit is not None and n >= limit:
            return


def sample_mix(
    paths: Sequence[str | Path], k: int, *, seed: int = 0, reader_kw: dict[str, Any] | None = None
) -> tuple[list[Example], int]:
    """A seeded uniform sample of k examples (reservoir; any file size) and how many there were."""
    rng = random.Random(seed)
    out: list[Example] = []
    seen = 0
    if k <= 0:
        return out, 0
    for ex in read_examples(paths, fmt="instruct", source="mix", reader_kw=reader_kw):
        seen += 1
        if len(out) < k:
            out.append(ex)
        else:
            j = rng.randrange(seen)
            if j < k:
                out[j] = ex
    return out, seen


def build_dataset(
    data: Sequence[str | Path],
    *,
    fmt: str = "instruct",
    mix: Sequence[str | Path] | None = None,
    mix_ratio: float = 1.0,
    limit: int | None = None,
    seed: int = 0,
    reader_kw: dict[str, Any] | None = None,
) -> tuple[list[Example], DataStats]:
    """The training examples: the data files plus a sampled general mix, shuffled (seeded)."""
    if not data:
        raise ConfigError("no training data given", hint="--data FALSEREJECT_EXPORT.jsonl")
    if mix_ratio < 0:
        raise ConfigError("--mix-ratio must be 0 or more", hint="--mix-ratio 1.0")
    stats = DataStats()
    examples = list(read_examples(data, fmt=fmt, reader_kw=reader_kw, limit=limit))
    if not examples:
        raise DataError("the training data holds no examples", file=str(data[0]))
    stats.data_examples = len(examples)
    if mix:
        k = round(mix_ratio * len(examples))
        mixed, stats.mix_available = sample_mix(mix, k, seed=seed, reader_kw=reader_kw)
        stats.mix_examples = len(mixed)
        examples += mixed
    for ex in examples:
        name = ex.origin.rsplit(":", 1)[0]
        stats.files[name] = stats.files.get(name, 0) + 1
    random.Random(seed).shuffle(examples)
    return examples, stats
