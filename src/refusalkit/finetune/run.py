"""`refusalkit finetune`: data -> LoRA SFT -> adapter + merged model -> GGUF -> a real answer.

    OUT/job.json          the job's identity (base, settings, hash of the examples), written
                          first: a rerun with the same identity resumes from the last
                          checkpoint in OUT/checkpoints/ (or returns the finished record);
                          a different one is refused unless --overwrite
    OUT/finetune.json     what was done: base, data, settings, loss history, timings, files
                          (written last, so its presence means the run finished)
    OUT/train.jsonl       the exact examples trained on (messages, source, origin)
    OUT/adapter/          the LoRA adapter (peft), small
    OUT/merged/           the merged model (HF safetensors; --no-merge skips it). For GGUF
                          bases it has no tokenizer files: `load_finetuned` rebuilds the
                          tokenizer from the GGUF recorded in finetune.json
    OUT/model.gguf        the merged model for llama.cpp: `refusalkit serve-local --model
                          OUT/model.gguf` (GGUF bases, or --gguf-metadata for HF bases)

`--max-steps 0` writes the untouched base through the same path: the fair "before" model
of a before/after comparison (the same precision as the fine-tuned GGUF).
"""

from __future__ import annotations

import hashlib
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refusalkit._version import __version__
from refusalkit.core.errors import ConfigError
from refusalkit.core.io import JsonlWriter, atomic_write, dumps, dumps_pretty, loads
from refusalkit.finetune.train import TrainSettings

VERIFY_PROMPT = "In one sentence, what is the capital of France?"
JOB_FILE = "job.json"


@dataclass(slots=True)
class FinetuneJob:
    output: Path
    data: list[Path]
    base: str | None = None
    format: str = "instruct"
    mix: list[Path] = field(default_factory=list)
    mix_ratio: float = 1.0
    limit: int | None = None
    settings: TrainSettings = field(default_factory=TrainSettings)
    merge: bool = True
    gguf: str = "auto"  # auto | f16 | f32 | q8_0 | none
    gguf_metadata: str | None = None
    verify: bool = True
    overwrite: bool = False
    reader_kw: dict[str, Any] = field(default_factory=dict)
    callbacks: list[Any] = field(default_factory=list)  # extra transformers TrainerCallbacks


def _identity(job: FinetuneJob, base: Any, examples: list[Any]) -> dict[str, Any]:
    """What makes two runs the same job: a rerun with an equal identity resumes (or returns
    the finished record); a different one is refused. The examples are hashed (not the
    file names), so an edited data file is noticed; the device is not part of it."""
    digest = hashlib.sha256()
    for ex in examples:
        digest.update(dumps(ex.to_dict()) + b"\n")
    settings = {
        k: v for k, v in job.settings.to_dict().items() if k not in ("device", "save_steps")
    }
    return {"base": base.spec, "format": job.format, "mix_ratio": job.mix_ratio,
            "limit": job.limit, "examples_sha256": digest.hexdigest(), "settings": settings,
            "merge": job.merge, "gguf": job.gguf, "gguf_metadata": job.gguf_metadata}  # fmt: skip


def _prepare_output(out: Path, overwrite: bool, identity: dict[str, Any]) -> str:
    """'new', 'resume' (same job, unfinished: train from its last checkpoint) or 'done'."""
    job_file = out / JOB_FILE
    if out.exists() and any(out.iterdir()) and not overwrite:
        if not job_file.is_file():
            raise ConfigError(f"{out} is not empty and holds no finetune job",
                              hint="pass --overwrite, or choose another -o")  # fmt: skip
        before = loads(job_file.read_bytes())
        if before != identity:
            keys = sorted(k for k in {*before, *identity} if before.get(k) != identity.get(k))
            raise ConfigError(
                f"{out} holds a fine-tune with other settings or data (differs in: "
                f"{', '.join(keys)}), so it cannot be resumed",
                hint="rerun with the same options, pass --overwrite, or choose another -o",
            )
        return "done" if (out / "finetune.json").is_file() else "resume"
    if out.exists():
        for name in ("adapter", "merged", "checkpoints"):
            shutil.rmtree(out / name, ignore_errors=True)
        for name in ("model.gguf", "finetune.json", "train.jsonl", JOB_FILE):
            (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(job_file, dumps_pretty(identity) + "\n")
    return "new"


def _gguf_plan(job: FinetuneJob, base: Any) -> tuple[str, str | None, str]:
    """(type or 'none', metadata source, why)."""
    from refusalkit.finetune.gguf_export import SUPPORTED, TYPES, source_architecture

    if job.gguf not in (*TYPES, "auto", "none"):
        raise ConfigError(
            f"unknown --gguf {job.gguf!r}", hint=f"--gguf auto|none|{'|'.join(TYPES)}"
        )
    if job.gguf == "none":
        return "none", None, "--gguf none"
    source = job.gguf_metadata or (str(base.gguf_path) if base.gguf_path else None)
    if source is None:
        if job.gguf != "auto":
            raise ConfigError("GGUF export of an HF base needs a GGUF of the same base for its "
                              "tokenizer metadata", hint="--gguf-metadata BASE.gguf, or --gguf none")  # fmt: skip
        return "none", None, "HF base without --gguf-metadata: convert merged/ with llama.cpp"
    arch = source_architecture(source)
    if arch not in SUPPORTED:
        if job.gguf != "auto":
            raise ConfigError(f"GGUF export does not support the {arch!r} architecture",
                              hint="--gguf none (convert merged/ with llama.cpp)")  # fmt: skip
        return "none", None, f"architecture {arch!r} not mapped: convert merged/ with llama.cpp"
    return ("f16" if job.gguf == "auto" else job.gguf), source, ""


def run_finetune(job: FinetuneJob) -> dict[str, Any]:
    """Run the whole job (see the module docstring); returns what finetune.json records."""
    from refusalkit.finetune.data import build_dataset
    from refusalkit.finetune.model import (
        load_model,
        load_tokenizer,
        pick_device,
        pick_dtype,
        resolve_base,
    )  # fmt: skip
    from refusalkit.finetune.train import tokenize_all, train_lora

    started = time.monotonic()
    s = job.settings
    base = resolve_base(job.base)
    gguf_type, gguf_source, gguf_note = _gguf_plan(job, base)
    examples, data_stats = build_dataset(
        job.data, fmt=job.format, mix=job.mix, mix_ratio=job.mix_ratio, limit=job.limit,
        seed=s.seed, reader_kw=job.reader_kw,
    )  # fmt: skip
    out = Path(job.output)
    state = _prepare_output(out, job.overwrite, _identity(job, base, examples))
    if state == "done":
        record = loads((out / "finetune.json").read_bytes())
        record["already_done"] = True
        return record
    with JsonlWriter(out / "train.jsonl") as w:
        w.write_many(ex.to_dict() for ex in examples)
    device = pick_device(s.device)
    dtype = pick_dtype(s.dtype, device)
    t0 = time.monotonic()
    tok = load_tokenizer(base)
    model = load_model(base, dtype=dtype, device=device)
    load_seconds = time.monotonic() - t0
    rows, dropped = tokenize_all(tok, examples, s.max_length)
    peft_model, train_stats = train_lora(model, tok, rows, s, str(out / "checkpoints"), device,
                                         callbacks=job.callbacks)  # fmt: skip
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    with warnings.catch_warnings():  # "no config file next to the GGUF": expected
        warnings.simplefilter("ignore", UserWarning)
        peft_model.save_pretrained(str(out / "adapter"))
    t0 = time.monotonic()
    merged = peft_model.merge_and_unload()
    merged.eval()
    files: dict[str, str] = {
        "adapter": str(out / "adapter"),
        "train_data": str(out / "train.jsonl"),
    }
    if job.merge:
        merged.save_pretrained(str(out / "merged"), safe_serialization=True)
        if base.gguf_file is None:
            tok.save_pretrained(str(out / "merged"))  # HF tokenizers save fine
        files["merged"] = str(out / "merged")
    if gguf_type != "none":
        from refusalkit.finetune.gguf_export import write_gguf

        name = f"{Path(base.spec).stem}-refusalkit-sft"
        write_gguf(merged.state_dict(), merged.config, gguf_source, out / "model.gguf",
                   dtype=gguf_type, name=name)  # fmt: skip
        files["gguf"] = str(out / "model.gguf")
    save_seconds = time.monotonic() - t0
    record: dict[str, Any] = {
        "refusalkit": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "base": base.to_dict(), "tokenizer_gguf": str(base.gguf_path) if base.gguf_path else None,
        "data": [str(p) for p in job.data], "mix": [str(p) for p in job.mix],
        "format": job.format, "mix_ratio": job.mix_ratio, "limit": job.limit,
        "data_stats": data_stats.to_dict(), "dropped_after_truncation": dropped,
        "settings": s.to_dict(), "device": device, "dtype": str(dtype).removeprefix("torch."),
        "train": train_stats, "gguf": {"type": gguf_type, "metadata_from": gguf_source, "note": gguf_note},
        "files": files, "timings": {"load_seconds": round(load_seconds, 2),
                                    "save_seconds": round(save_seconds, 2)},
    }  # fmt: skip
    if job.verify and "gguf" in files:
        record["verify"] = verify_gguf(files["gguf"])
    record["timings"]["total_seconds"] = round(time.monotonic() - started, 2)
    atomic_write(out / "finetune.json", dumps_pretty(record) + "\n")
    return record


def verify_gguf(
    path: str | Path, prompt: str = VERIFY_PROMPT, max_tokens: int = 48
) -> dict[str, Any]:
    """Serve the GGUF with llama.cpp (the `serve-local` server) and ask one real question."""
    from refusalkit.llm.client import LLMClient
    from refusalkit.llm.local import LocalServer, local_available
    from refusalkit.llm.runtime import run_sync

    reason = local_available()
    if reason and "xllamacpp" in reason:
        return {"ok": False, "skipped": reason}
    t0 = time.monotonic()
    with LocalServer(path, n_ctx=2048, n_parallel=1) as server:

        async def ask() -> Any:
            async with LLMClient(server.endpoint("finetuned"), log=False) as client:
                return await client.chat(prompt, max_tokens=max_tokens, temperature=0.0)

        res = run_sync(ask())
    return {"ok": res.ok and bool(res.text.strip()), "prompt": prompt, "answer": res.text,
            "error": res.error, "seconds": round(time.monotonic() - t0, 2)}  # fmt: skip


def load_finetuned(folder: str | Path, *, device: str = "cpu") -> tuple[Any, Any]:
    """(model, tokenizer) of a finished run's merged/ folder, the tokenizer rebuilt from the
    base GGUF when the base was one (never from a saved GGUF-derived tokenizer)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(folder)
    record = loads((folder / "finetune.json").read_bytes())
    if "merged" not in record["files"]:
        raise ConfigError(f"{folder} has no merged model", hint="rerun finetune without --no-merge")
    model = AutoModelForCausalLM.from_pretrained(record["files"]["merged"]).to(device)
    gguf = record.get("tokenizer_gguf")
    if gguf:
        tok = AutoTokenizer.from_pretrained(str(Path(gguf).parent), gguf_file=Path(gguf).name)
    else:
        tok = AutoTokenizer.from_pretrained(record["files"]["merged"])
    return model, tok
