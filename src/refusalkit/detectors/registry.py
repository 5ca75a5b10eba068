"""Turn a detector spec from the CLI or API into a Detector, importing lazily.

Specs: `default` (the bundled learned model), `rules`, `learned`, a path to a saved detector folder, `llm:ENDPOINT` (taxonomy judge) or
`llm-falsereject:ENDPOINT` (three-way FalseReject judge).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from refusalkit.core.errors import ConfigError
from refusalkit.detectors.base import MANIFEST, Detector

#: kind -> "module:Class". Heavy modules are only imported when their kind is used.
KINDS: dict[str, str] = {
    "rules": "refusalkit.detectors.rules:RulesDetector",
    "learned": "refusalkit.detectors.learned:LearnedDetector",
    "encoder": "refusalkit.detectors.encoder:EncoderDetector",
    "llm-taxonomy": "refusalkit.llm.judges:TaxonomyJudge",
    "llm-falsereject": "refusalkit.llm.judges:FalseRejectJudge",
}

SPEC_HELP = "default | rules | PATH (saved detector) | llm:ENDPOINT | llm-falsereject:ENDPOINT"


def detector_class(kind: str) -> type[Detector]:
    try:
        target = KINDS[kind]
    except KeyError:
        raise ConfigError(
            f"unknown detector kind {kind!r}", hint=f"known kinds: {', '.join(sorted(KINDS))}"
        ) from None
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def load_detector(spec: str = "default") -> Detector:
    """Build the detector a spec names (see module docstring)."""
    if spec == "default":
        from refusalkit.detectors.learned import LearnedDetector

        return LearnedDetector.bundled()
    if spec == "encoder" and not Path(spec).exists():
        raise ConfigError(
            "the encoder detector must be trained before use: pass the folder it was saved to",
            hint="train one with EncoderDetector().fit(...).save(DIR) (the [train] extra), "
            "then use --detector DIR",
        )
    if spec in ("rules", "learned") and not Path(spec).exists():
        cls = detector_class(spec)
        if spec == "learned":
            return cls.bundled()  # type: ignore[attr-defined]
        return cls()
    for prefix, kind in (("llm:", "llm-taxonomy"), ("llm-falsereject:", "llm-falsereject")):
        if spec.startswith(prefix):
            return detector_class(kind)(endpoint=spec[len(prefix) :])  # type: ignore[call-arg]
    path = Path(spec)
    manifest = path / MANIFEST
    if not manifest.is_file():
        raise ConfigError(
            f"detector {spec!r} is neither a known name nor a saved detector folder "
            f"(no {MANIFEST} in {path})",
            hint=f"use {SPEC_HELP}",
        )
    kind = json.loads(manifest.read_text()).get("kind", "")
    return detector_class(kind).load(path)
