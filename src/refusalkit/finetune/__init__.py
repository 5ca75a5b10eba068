"""LoRA fine-tuning against over-refusal (`refusalkit finetune`, the `[train]` extra).

    from refusalkit.finetune import FinetuneJob, TrainSettings, run_finetune
    record = run_finetune(FinetuneJob(output=Path("ft"), data=[Path("falsereject_export.jsonl")],
                                      mix=[Path("dolly.csv")], settings=TrainSettings(max_steps=50)))

Fine-tunes a causal LM (an HF folder, or a GGUF such as the bundled SmolLM2-135M) with
LoRA on FalseReject-style data mixed with general instruction data, loss on assistant
tokens only; saves the adapter and the merged model and writes a GGUF that
`refusalkit serve-local --model OUT/model.gguf` serves. torch, transformers and peft are
imported inside the functions, so importing this package stays light. See docs/finetune.md.
"""

from __future__ import annotations

from refusalkit.core.lazy import lazy_exports

_EXPORTS = {
    "FinetuneJob": "refusalkit.finetune.run",
    "run_finetune": "refusalkit.finetune.run",
    "verify_gguf": "refusalkit.finetune.run",
    "load_finetuned": "refusalkit.finetune.run",
    "TrainSettings": "refusalkit.finetune.train",
    "build_dataset": "refusalkit.finetune.data",
    "write_gguf": "refusalkit.finetune.gguf_export",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
