"""Streaming dataset readers: every user file enters refusalkit through here.

Formats: JSONL, JSON (array, or an object holding one array), CSV/TSV, Parquet, Arrow,
each optionally gzipped, and Hugging Face `save_to_disk` folders. Shapes: alpaca,
sharegpt, messages, hh_rlhf, dpo, prompt_response, prompt_only (auto-detected per
file, overridable). See docs/readers.md for the exact rules.

    from refusalkit.readers import read_exchanges
    with read_exchanges("data.jsonl.gz", skip_bad=True) as stream:
        for ex in stream:
            ...
        print(stream.stats.to_dict())
"""

from refusalkit.readers.records import FORMATS, Record, Shard, detect_format, iter_records
from refusalkit.readers.shapes import (
    FIELD_ROLES,
    PROMPT_SYNONYMS,
    RESPONSE_SYNONYMS,
    SHAPES,
    detect_shape,
)
from refusalkit.readers.sharding import shard_ranges
from refusalkit.readers.stream import (
    ExchangeStream,
    FileStats,
    ReadStats,
    default_rejects_path,
    read_exchanges,
)

__all__ = [
    "FIELD_ROLES",
    "FORMATS",
    "PROMPT_SYNONYMS",
    "RESPONSE_SYNONYMS",
    "SHAPES",
    "ExchangeStream",
    "FileStats",
    "ReadStats",
    "Record",
    "Shard",
    "default_rejects_path",
    "detect_format",
    "detect_shape",
    "iter_records",
    "read_exchanges",
    "shard_ranges",
]
