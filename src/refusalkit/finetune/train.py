"""LoRA supervised fine-tuning with peft and the transformers `Trainer`.

Why the plain `Trainer` with our own masking rather than TRL's `SFTTrainer`: TRL's
assistant-only loss needs `{% generation %}` markers in the chat template, which most
templates (SmolLM2's included) lack, and its options moved between releases; here the
masking is done once (`model.encode`) and works for any prefix-stable template, on every
transformers/peft version the `[train]` extra allows. The same code runs on CPU
(float32) and on a GPU (bf16, gradient checkpointing, `--device cuda`) for 1-8B models.
"""

from __future__ import annotations

import inspect
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from refusalkit.core.errors import ConfigError


@dataclass(slots=True)
class TrainSettings:
    epochs: float = 1.0
    max_steps: int | None = None
    lr: float = 2e-4
    batch_size: int = 4
    grad_accum: int = 1
    max_length: int = 1024
    lora_r: int = 16
    lora_alpha: int | None = None  # default 2 x r
    lora_dropout: float = 0.05
    target_modules: str = "all-linear"
    warmup: float = 0.03  # share of the steps
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "auto"
    dtype: str = "auto"
    gradient_checkpointing: bool | None = None  # default: on for CUDA
    save_steps: int | None = None  # checkpoint interval (default: ~10 per run, at most 50 apart)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _training_args(**kw: Any) -> Any:
    """TrainingArguments with only the keywords this transformers version knows."""
    from transformers import TrainingArguments

    known = inspect.signature(TrainingArguments.__init__).parameters
    return TrainingArguments(**{k: v for k, v in kw.items() if k in known})


def tokenize_all(
    tok: Any, examples: list[Any], max_length: int
) -> tuple[list[dict[str, list[int]]], int]:
    from refusalkit.finetune.model import encode

    rows, dropped = [], 0
    for ex in examples:
        row = encode(tok, ex.messages, max_length)
        if row is None:
            dropped += 1
        else:
            rows.append(row)
    return rows, dropped


def train_lora(model: Any, tok: Any, rows: list[dict[str, list[int]]], s: TrainSettings,
               work_dir: str, device: str, callbacks: list[Any] | None = None,
               ) -> tuple[Any, dict[str, Any]]:  # fmt: skip
    """Wrap `model` with LoRA adapters and train on `rows`; returns (peft model, stats).

    Checkpoints (adapter, optimiser, scheduler and RNG state) go to `work_dir` every
    `save_steps`; when `work_dir` already holds one (an interrupted run of the same job),
    training continues from the last, so a killed multi-hour GPU run loses at most one
    interval. The loss history is the trainer's own log, which the checkpoint carries, so it
    covers the steps before the interruption too."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Trainer, TrainerCallback
    from transformers.trainer_callback import PrinterCallback
    from transformers.trainer_utils import get_last_checkpoint

    from refusalkit.core.progress import progress
    from refusalkit.finetune.model import Collator

    if not rows:
        raise ConfigError("no training rows left after tokenisation", hint="raise --max-length")
    torch.manual_seed(s.seed)
    cuda = device.startswith("cuda")
    checkpointing = cuda if s.gradient_checkpointing is None else s.gradient_checkpointing
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    lora = LoraConfig(
        r=s.lora_r, lora_alpha=s.lora_alpha or 2 * s.lora_r, lora_dropout=s.lora_dropout,
        target_modules=s.target_modules if s.target_modules == "all-linear"
        else [m.strip() for m in s.target_modules.split(",") if m.strip()],
        task_type="CAUSAL_LM",
    )  # fmt: skip
    with warnings.catch_warnings():  # peft calls transformers' deprecated is_gradient_checkpointing
        warnings.simplefilter("ignore", FutureWarning)
        peft_model = get_peft_model(model, lora)
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in peft_model.parameters())
    per_step = s.batch_size * s.grad_accum
    steps = (
        s.max_steps
        if s.max_steps is not None
        else max(1, math.ceil(len(rows) * s.epochs / per_step))
    )
    bf16 = cuda and next(model.parameters()).dtype == torch.bfloat16
    save_steps = s.save_steps or max(1, min(50, math.ceil(steps / 10)))
    resume = get_last_checkpoint(work_dir) if os.path.isdir(work_dir) else None
    args = _training_args(
        output_dir=work_dir, per_device_train_batch_size=s.batch_size,
        gradient_accumulation_steps=s.grad_accum, num_train_epochs=s.epochs,
        max_steps=steps, learning_rate=s.lr, lr_scheduler_type="cosine",
        warmup_steps=int(s.warmup * steps), weight_decay=s.weight_decay, logging_steps=1,
        save_strategy="steps", save_steps=save_steps, save_total_limit=2, report_to=[],
        use_cpu=device == "cpu", bf16=bf16, seed=s.seed, data_seed=s.seed, dataloader_num_workers=0, remove_unused_columns=False,
        disable_tqdm=True, optim="adamw_torch",
    )  # fmt: skip

    class _Progress(TrainerCallback):
        def __init__(self, advance: Any) -> None:
            self.advance = advance

        def on_step_end(self, *a: Any, **k: Any) -> None:
            self.advance()

    started = time.monotonic()
    done_before = int(Path(resume).name.rsplit("-", 1)[-1]) if resume else 0
    with progress("fine-tuning", total=max(0, steps - done_before)) as advance, \
            warnings.catch_warnings():  # fmt: skip
        warnings.simplefilter("ignore", FutureWarning)  # transformers v6 renames
        # each checkpoint of a GGUF base: "no config file next to the GGUF" (expected)
        warnings.filterwarnings("ignore", message="Could not find a config file")
        trainer = Trainer(model=peft_model, args=args, train_dataset=_ListDataset(rows),
                          data_collator=Collator(tok.pad_token_id),
                          callbacks=[_Progress(advance), *(callbacks or [])])  # fmt: skip
        trainer.remove_callback(PrinterCallback)  # it prints log dicts to stdout (breaks --json)
        if steps > 0:
            trainer.train(resume_from_checkpoint=resume)
    seconds = time.monotonic() - started
    history = [{"step": e["step"], "loss": round(float(e["loss"]), 4)}
               for e in trainer.state.log_history if "loss" in e and "step" in e]  # fmt: skip
    tokens = sum(len(r["input_ids"]) for r in rows)
    trained = sum(sum(1 for x in r["labels"] if x != -100) for r in rows)
    stats = {
        "steps": steps, "rows": len(rows), "examples_per_step": per_step,
        "tokens": tokens, "assistant_tokens": trained, "trainable_parameters": trainable,
        "parameters": total, "seconds": round(seconds, 2),
        "seconds_per_step": round(seconds / (steps - done_before), 3) if steps > done_before
        else None, "resumed_from": Path(resume).name if resume else None,
        "steps_this_session": steps - done_before if steps else 0, "save_steps": save_steps,
        "loss_history": history, "first_loss": history[0]["loss"] if history else None,
        "last_loss": history[-1]["loss"] if history else None, "gradient_checkpointing": checkpointing,
        "bf16": bf16,
    }  # fmt: skip
    if checkpointing:
        peft_model.base_model.model.gradient_checkpointing_disable()
    return peft_model, stats


class _ListDataset:
    """A map-style dataset over pre-tokenised rows (no `datasets` dependency needed)."""

    def __init__(self, rows: list[dict[str, list[int]]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.rows[i]
