"""Over-refusal benchmark: prompt sets, runs, metrics, leaderboards (`refusalkit bench`).

    from refusalkit.bench import BenchConfig, run_bench, rejudge, merge_runs
    info = run_bench(BenchConfig(datasets=["xstest", "xstest-unsafe"], limit=20), "runs/a")
    rejudge("runs/a", ["llm-falsereject:gpt"])          # saved answers, another judge
    merge_runs(["runs/base", "runs/ft"], "runs/board", names=["base", "finetuned"])

See docs/bench.md. Submodules: `datasets` (registry and loaders), `sampling`, `run`,
`metrics`, `compare` (paired tests, judge agreement), `leaderboard`, `report`, `stats`
(prompt-set diversity).
"""

from refusalkit.bench.datasets import REGISTRY, DatasetSpec, Item, PromptSet, resolve, resolve_all
from refusalkit.bench.leaderboard import merge_runs
from refusalkit.bench.run import BenchConfig, load_sets, rejudge, run_bench

__all__ = [
    "REGISTRY",
    "BenchConfig",
    "DatasetSpec",
    "Item",
    "PromptSet",
    "load_sets",
    "merge_runs",
    "rejudge",
    "resolve",
    "resolve_all",
    "run_bench",
]
