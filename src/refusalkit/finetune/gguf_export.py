"""Write a fine-tuned Llama-architecture model as a GGUF that llama.cpp (`serve-local`) serves.

The metadata (tokenizer vocabulary, merges, special tokens, chat template, hyper-
parameters) is copied from a *source GGUF* of the same base model (the GGUF the model
was loaded from, or `--gguf-metadata`); only the file type changes. Tensors come from the
merged model's state dict, renamed to llama.cpp's names, with the query/key projections
permuted back to llama.cpp's rotary layout (transformers' GGUF loader un-permutes them on
load, so export is the exact inverse; `tests/test_finetune_gguf.py` round-trips the
bundled model). 2-D weights are written as F16 (or F32 / Q8_0), norms as F32.

Only the `llama` architecture (Llama 1-3, SmolLM, Mistral-style models that llama.cpp
loads as llama) is mapped; for other architectures the merged HF folder is saved and
llama.cpp's `convert_hf_to_gguf.py` converts it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from refusalkit.core.errors import ConfigError

SUPPORTED = ("llama",)
TYPES = ("f16", "f32", "q8_0")

_LAYER = re.compile(r"^model\.layers\.(\d+)\.(.+)\.weight$")
_NAMES = {
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
}  # fmt: skip
#: source fields not copied: written by the writer, or describing the old quantisation
_SKIP = ("general.architecture", "general.file_type", "general.quantization_version")


def permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF rotary layout -> llama.cpp's (interleaved halves per head), as convert_hf_to_gguf."""
    return (
        w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
        .swapaxes(1, 2)
        .reshape(w.shape)
    )


def gguf_name(hf_name: str) -> str | None:
    if hf_name == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf_name == "model.norm.weight":
        return "output_norm.weight"
    if hf_name == "lm_head.weight":
        return "output.weight"
    m = _LAYER.match(hf_name)
    if m and m.group(2) in _NAMES:
        return f"blk.{m.group(1)}.{_NAMES[m.group(2)]}.weight"
    return None


def source_architecture(path: str | Path) -> str:
    import gguf

    reader = gguf.GGUFReader(str(path))
    field = reader.get_field("general.architecture")
    return str(field.contents()) if field is not None else "?"


def _check(reader: Any, config: Any) -> None:
    """The source GGUF must describe the same shapes as the model being written."""
    arch = str(reader.get_field("general.architecture").contents())
    want = {
        f"{arch}.block_count": config.num_hidden_layers,
        f"{arch}.embedding_length": config.hidden_size,
        f"{arch}.attention.head_count": config.num_attention_heads,
        f"{arch}.attention.head_count_kv": getattr(config, "num_key_value_heads", None)
        or config.num_attention_heads,
    }
    for key, value in want.items():
        field = reader.get_field(key)
        if field is not None and int(field.contents()) != int(value):
            raise ConfigError(
                f"the metadata GGUF does not match the model: {key} is {field.contents()}, "
                f"the model has {value}",
                hint="--gguf-metadata must be a GGUF of the same base model",
            )


def write_gguf(
    state_dict: Mapping[str, Any],
    config: Any,
    source: str | Path,
    output: str | Path,
    *,
    dtype: str = "f16",
    name: str | None = None,
) -> Path:
    """Write `state_dict` (a merged Llama model) as GGUF `output` with `source`'s metadata."""
    import gguf

    if dtype not in TYPES:
        raise ConfigError(f"unknown GGUF type {dtype!r}", hint=f"--gguf {' | '.join(TYPES)}")
    reader = gguf.GGUFReader(str(source))
    arch = str(reader.get_field("general.architecture").contents())
    if arch not in SUPPORTED:
        raise ConfigError(
            f"GGUF export supports the {', '.join(SUPPORTED)} architecture, not {arch!r}",
            hint="use --gguf none and convert the merged folder with llama.cpp's convert_hf_to_gguf.py",
        )
    _check(reader, config)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    writer = gguf.GGUFWriter(str(tmp), arch)
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name in _SKIP:
            continue
        if name and field.name == "general.name":
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), vtype, sub_type=sub)
    if name:
        writer.add_name(name)
    ftype = {"f16": gguf.LlamaFileType.MOSTLY_F16, "f32": gguf.LlamaFileType.ALL_F32,
             "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[dtype]  # fmt: skip
    writer.add_file_type(ftype)
    if dtype == "q8_0":
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    n_head = config.num_attention_heads
    n_kv = getattr(config, "num_key_value_heads", None) or n_head
    tied = bool(getattr(config, "tie_word_embeddings", False))
    written = 0
    for key, tensor in state_dict.items():
        if key == "lm_head.weight" and tied:
            continue
        target = gguf_name(key)
        if target is None:
            if key.endswith("rotary_emb.inv_freq"):
                continue
            raise ConfigError(f"no GGUF name for tensor {key!r}", hint="--gguf none")
        arr = tensor.detach().float().cpu().numpy()
        if key.endswith("self_attn.q_proj.weight"):
            arr = permute(arr, n_head)
        elif key.endswith("self_attn.k_proj.weight"):
            arr = permute(arr, n_kv)
        if arr.ndim == 1 or dtype == "f32":
            writer.add_tensor(target, arr.astype(np.float32))
        elif dtype == "q8_0" and arr.shape[-1] % 32 == 0:
            q = gguf.quants.quantize(arr.astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor(target, q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(target, arr.astype(np.float16))
        written += 1
    if not written:
        raise ConfigError("the model has no tensors to write")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(output)
    return output
