#!/usr/bin/env python
"""Rebuild the bundled audit samples (`src/refusalkit/resources/samples/`) from ../shared/data.

    python scripts/build_audit_samples.py --data /work/shared/data

Each sample = a seeded random draw of rows, plus (for the sets where refusals are rare)
rows whose assistant text matches a simple refusal regex, so that `refusalkit audit data`
shows real refusals of both kinds on a first run. The samples are therefore *enriched*:
their refusal rates are not those of the source datasets (see docs/audits/ for those).
Rows are copied verbatim (JSONL lines and CSV records byte for byte; JSON arrays
re-serialised), in their original order.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import random
import re
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "src" / "refusalkit" / "resources" / "samples"
REFUSAL = re.compile(
    r"\b(as an ai( language model)?|i'?m sorry|i apologi[sz]e|i (cannot|can'?t|am unable|'m unable)"
    r"|i am not able|i'?m not able|unfortunately, i)\b",
    re.I,
)
SEED = 20240601


def pick(
    n_total: int, n_random: int, hits: list[int], n_hits: int, rng: random.Random
) -> list[int]:
    chosen = set(rng.sample(range(n_total), n_random))
    chosen |= set(rng.sample(hits, min(n_hits, len(hits))))
    return sorted(chosen)


def sharegpt(data: Path, rng: random.Random) -> None:
    src = data / "ift/sharegpt/sharegpt_v3_unfiltered_cleaned_split_sample5000.jsonl.gz"
    with gzip.open(src, "rb") as fh:
        lines = fh.read().splitlines()
    small, hits = [], []
    for i, line in enumerate(lines):
        row = json.loads(line)
        size = sum(len(t.get("value") or "") for t in row["conversations"])
        if size > 6000:  # keep the sample small: short conversations only
            continue
        small.append(i)
        if any(
            t.get("from") == "gpt" and REFUSAL.search((t.get("value") or "")[:300])
            for t in row["conversations"]
        ):
            hits.append(i)
    keep = set(rng.sample(small, 120)) | set(rng.sample(hits, 60))
    with gzip.GzipFile(OUT / "sharegpt.jsonl.gz", "wb", mtime=0) as fh:
        for i in sorted(keep):
            fh.write(lines[i] + b"\n")


def hh_rlhf(data: Path, rng: random.Random) -> None:
    with gzip.open(data / "ift/hh-rlhf/harmless-base/test.jsonl.gz", "rb") as fh:
        lines = fh.read().splitlines()
    short = [i for i, line in enumerate(lines) if len(line) < 3000]
    with gzip.GzipFile(OUT / "hh_rlhf_harmless.jsonl.gz", "wb", mtime=0) as fh:
        for i in sorted(rng.sample(short, 200)):
            fh.write(lines[i] + b"\n")


def json_array(src: Path, dst: str, n_random: int, n_hits: int, rng: random.Random) -> None:
    opener = gzip.open if src.suffix == ".gz" else open
    with opener(src, "rb") as fh:
        rows = json.load(fh)
    hits = [i for i, r in enumerate(rows) if REFUSAL.search((r.get("output") or "")[:300])]
    idx = pick(len(rows), n_random, hits, n_hits, rng)
    text = json.dumps([rows[i] for i in idx], ensure_ascii=False, indent=1)
    (OUT / dst).write_text(text + "\n", encoding="utf-8")


def dolly(data: Path, rng: random.Random) -> None:
    src = data / "ift/dolly/databricks_dolly_closed_qa_1000.csv"
    raw = src.read_text(encoding="utf-8")
    records = list(csv.reader(io.StringIO(raw)))
    header, body = records[0], records[1:]
    idx = sorted(rng.sample(range(len(body)), 100))
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)
    for i in idx:
        w.writerow(body[i])
    (OUT / "dolly_closed_qa.csv").write_text(out.getvalue(), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    sharegpt(args.data, rng)
    hh_rlhf(args.data, rng)
    json_array(args.data / "ift/alpaca/alpaca_data_5000_subset.json", "alpaca.json", 150, 25, rng)
    json_array(args.data / "ift/lima/lima.json.gz", "lima.json", 80, 20, rng)
    dolly(args.data, rng)
    for p in sorted(OUT.iterdir()):
        print(f"{p.name}: {p.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
