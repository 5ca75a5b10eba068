"""What an audit will do: its settings, the datasets' names, and the units of work.

A *unit* is the smallest piece of an audit that is done, recorded and skipped on
resume as a whole:
- a **shard** of a shardable input (`readers.shard_ranges`: byte ranges of JSONL/CSV,
  row groups of Parquet, data files of HF folders), read by a worker itself;
- a **batch** of an unshardable input (gzip, JSON arrays, Arrow files, `--limit` runs):
  the parent reads the stream and hands consecutive batches of whole rows to the
  workers (`stream` mode), or one worker reads the whole file (`whole` mode).

The plan is written to `work/plan.json` on the first run; a resumed run reuses it, so
shard boundaries and batch sizes never change under a half-finished audit.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from refusalkit.readers import Shard, detect_format, shard_ranges
from refusalkit.readers.records import is_gzip
from refusalkit.readers.stream import file_stem
from refusalkit.reports.results import input_fingerprint

#: Target input bytes per shard: big enough that per-shard overhead (a task, a part
#: file) is negligible, small enough to balance work and to lose little on a crash.
SHARD_BYTES = 32 << 20
#: Exchanges per streamed batch (cut at row boundaries, so a pair never splits).
STREAM_UNIT = 4096
SHARDABLE = ("jsonl", "csv", "tsv", "parquet", "hf_disk")


@dataclass
class AuditConfig:
    """Every setting of a dataset audit (the CLI's options, as plain data)."""

    datasets: list[str]
    detector: str = "default"
    shape: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    skip_bad: bool = False
    rejects: str | None = None
    split: str | None = None
    encoding: str | None = None
    format: str | None = None
    limit: int | None = None
    batch_size: int = 512
    examples: int = 5
    workers: int = 0  # 0: every core
    engine: str = "local"
    ray_address: str | None = None
    stream: str = "auto"  # auto | always | never: how unshardable inputs are split
    stream_unit: int = STREAM_UNIT
    shard_bytes: int = SHARD_BYTES
    names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.workers:
            self.workers = max(1, os.cpu_count() or 1)
        if not self.names:
            self.names = dataset_names(self.datasets)

    def reader_kwargs(self) -> dict[str, Any]:
        """Options for `read_exchanges` (the rejects path is set per unit)."""
        return {
            "shape": self.shape,
            "fields": self.fields or None,
            "skip_bad": self.skip_bad,
            "encoding": self.encoding,
            "format": self.format,
            "split": self.split,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditConfig:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def dataset_names(paths: list[str]) -> list[str]:
    """Short unique names for reports: the file stem, with parent folders when needed."""

    def name(p: str, depth: int) -> str:
        parts = Path(os.fspath(p).rstrip("/")).parts
        stem = file_stem(os.fspath(p).rstrip("/"))
        stem = Path(stem).name
        return "/".join([*parts[-1 - depth : -1], stem]) if depth else stem

    names = [name(p, 0) for p in paths]
    for depth in range(1, 6):
        dup = {n for n in names if names.count(n) > 1}
        if not dup:
            break
        names = [name(p, depth) if n in dup else n for p, n in zip(paths, names, strict=True)]
    seen: dict[str, int] = {}
    out = []
    for n in names:  # identical paths given twice
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}#{seen[n]}")
    return out


@dataclass(frozen=True)
class Unit:
    """One unit of work (see module docstring). `shard` is None for a streamed batch."""

    uid: str
    dataset: int
    kind: str  # shard | batch | whole
    shard: Shard | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "dataset": self.dataset,
            "kind": self.kind,
            "shard": asdict(self.shard) if self.shard else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Unit:
        shard = Shard(**data["shard"]) if data.get("shard") else None
        return cls(data["uid"], int(data["dataset"]), data["kind"], shard)


def batch_uid(dataset: int, index: int) -> str:
    return f"{dataset:03d}-b{index:06d}"


def plan(cfg: AuditConfig) -> dict[str, Any]:
    """Units per dataset: `{"units": [...], "streams": [dataset index, ...], ...}`.

    Streamed datasets have no units listed up front: their batches get uids
    `batch_uid(d, i)` as the parent reads them. Shards depend only on the file size
    and the worker count, and the plan is stored, so a resumed run matches.
    """
    units: list[Unit] = []
    streams: list[int] = []
    unshardable = []
    for d, path in enumerate(cfg.datasets):
        fmt = detect_format(path, cfg.format)
        if cfg.limit is not None or fmt not in SHARDABLE or (fmt != "hf_disk" and is_gzip(path)):
            unshardable.append(d)
            continue
        n = _n_shards(path, fmt, cfg.workers, cfg.shard_bytes)
        for i, sh in enumerate(
            shard_ranges(path, n, format=fmt, encoding=cfg.encoding, split=cfg.split)
        ):
            units.append(Unit(f"{d:03d}-s{i:05d}", d, "shard", sh))
    stream_mode = cfg.stream
    if stream_mode == "auto":
        # streaming pays when there are fewer unshardable files than workers to keep busy
        stream_mode = "always" if len(unshardable) < cfg.workers or cfg.limit else "never"
    if cfg.engine == "ray" and cfg.limit is None:
        stream_mode = "never"
    for d in unshardable:
        if stream_mode == "always" or cfg.limit is not None:
            streams.append(d)
        else:
            fmt = detect_format(cfg.datasets[d], cfg.format)
            units.append(
                Unit(
                    f"{d:03d}-w00000",
                    d,
                    "whole",
                    Shard(
                        cfg.datasets[d],
                        fmt,
                        split=cfg.split,
                        line=None if fmt in ("parquet", "arrow", "hf_disk") else 1,
                    ),
                )
            )
    units.sort(key=lambda u: u.uid)
    return {
        "units": [u.to_dict() for u in units],
        "streams": streams,
        "stream_unit": cfg.stream_unit,
    }


def _n_shards(path: str, fmt: str, workers: int, shard_bytes: int = SHARD_BYTES) -> int:
    if fmt == "hf_disk":
        size = sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
    else:
        size = os.path.getsize(path)
    by_size = -(-size // shard_bytes)
    # small files: still one shard per worker (x2 for balance) once there is 1 MiB each
    return max(1, by_size, min(workers * 2, size // (1 << 20)))


def detector_fingerprint(spec: str) -> str | None:
    """sha256 of a saved detector's files (`default` = the bundled one), else None.

    Versions are not always bumped when weights change; the hash tells two apart, so a
    run is never resumed with a different model and run.json says which one judged.
    """
    import hashlib

    from refusalkit.core.paths import resource_path

    folder = resource_path("models", "default") if spec == "default" else Path(spec)
    if not folder.is_dir():
        return None
    h = hashlib.sha256()
    # documentation (a model card) is not the model: only the manifest and weights count
    files = [p for p in folder.rglob("*") if p.is_file() and p.suffix not in (".md", ".txt")]
    for f in sorted(files):
        h.update(f.relative_to(folder).as_posix().encode() + b"\0")
        with open(f, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
    return h.hexdigest()[:16]


def run_key(cfg: AuditConfig) -> dict[str, Any]:
    """What must match for a run folder to be resumed (inputs, detector, reading)."""
    return {
        "inputs": [input_fingerprint(p) for p in cfg.datasets],
        "detector": cfg.detector,
        "detector_sha256": detector_fingerprint(cfg.detector),
        "reader": {k: v for k, v in cfg.reader_kwargs().items()},
        "limit": cfg.limit,
        "names": cfg.names,
        "engine": "ray" if cfg.engine == "ray" else "local",
    }


def estimate_rows(cfg: AuditConfig) -> int | None:
    """Rows to audit when cheap to know (progress bar ETA); None when any input is opaque."""
    total = 0
    for path in cfg.datasets:
        fmt = detect_format(path, cfg.format)
        if cfg.limit is not None:
            return None
        if fmt in ("jsonl", "csv", "tsv") and not is_gzip(path):
            lines = _count_lines(path)
            total += lines - (1 if fmt != "jsonl" else 0)
        elif fmt == "parquet" and not is_gzip(path):
            from refusalkit.readers.arrow_formats import parquet_row_groups

            total += sum(parquet_row_groups(path))
        elif fmt == "hf_disk":
            from refusalkit.readers.arrow_formats import arrow_stream_rows, hf_splits

            for _name, _shown, files in hf_splits(path, path, cfg.split):
                total += sum(arrow_stream_rows(f) for f in files)
        else:
            return None
    return total


def _count_lines(path: str) -> int:
    n, last = 0, b"\n"
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            n += block.count(b"\n")
            last = block[-1:]
    return n + (last != b"\n")
