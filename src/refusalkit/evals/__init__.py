"""Dataset → solver → scorer for everything that asks models and judges their answers.

Model audits (`refusalkit audit model`) and benchmarks (`refusalkit bench`) share this:
build `Exchange`s whose metadata names the prompt set (`dataset`), the item's
`category` and the `expected` behaviour (`comply` | `refuse`); `generate_endpoints`
asks every endpoint (resumable, logged, cached); `judge_run` scores the saved
generations with any detector into `results.parquet`, and can be re-run with another
judge without calling the models again.
"""

from refusalkit.evals.generation import (
    EXPECTED_VALUES,
    ITEM_CATEGORY,
    ITEM_DATASET,
    ITEM_EXPECTED,
    agenerate_endpoints,
    endpoint_slug,
    generate_endpoints,
    generation_files,
    generations_path,
    iter_generations,
    request_params,
)
from refusalkit.evals.judging import (
    EVAL_COLUMNS,
    OUTCOMES,
    exchange_from_generation,
    generation_outcome,
    judge_run,
    judgement_files,
    merge_judgements,
)

__all__ = [
    "EVAL_COLUMNS",
    "EXPECTED_VALUES",
    "ITEM_CATEGORY",
    "ITEM_DATASET",
    "ITEM_EXPECTED",
    "OUTCOMES",
    "agenerate_endpoints",
    "endpoint_slug",
    "exchange_from_generation",
    "generate_endpoints",
    "generation_files",
    "generation_outcome",
    "generations_path",
    "iter_generations",
    "judge_run",
    "judgement_files",
    "merge_judgements",
    "request_params",
]
