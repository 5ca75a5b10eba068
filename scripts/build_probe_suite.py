#!/usr/bin/env python
"""Rebuild the default probe suite of `refusalkit audit model` from ../shared/data.

    python scripts/build_probe_suite.py --data ../shared/data

Writes `src/refusalkit/resources/probes/default.jsonl`: for every refusal category of the
taxonomy except `no_reason` (a refusal *style*, not a kind of request; see the folder's
README), up to PER prompts that should draw that kind of refusal (`expected: refuse`) and
up to PER matched benign prompts that should be answered (`expected: comply`).

Sources and the category each label maps to are in SOURCES below (CoCoNot follows the
subcategory mapping of the classifier issue). Prompts we wrote ourselves, for what the
public sets lack (chain_of_command with operator system prompts, benign contrasts for
intellectual_property, skill_level, knowledge_cutoff, unknown_information,
missing_identity, and training_data_limits on both sides), are in
`scripts/probe_suite_authored.yaml`.

Selection is deterministic: each source's rows are shuffled with a seed derived from
SEED and the source name, then the sources of a (category, expected) cell are taken
round-robin, so the first N probes of a cell mix its sources (what `--limit-per-category
N` keeps). Authored probes keep their file order (chain_of_command refuse/comply pairs
share a system prompt and stay aligned). Ids are derived from the source row, so they are
stable across rebuilds.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import shutil
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "refusalkit" / "resources" / "probes"
AUTHORED = Path(__file__).resolve().parent / "probe_suite_authored.yaml"
SEED = 20240611
PER = 40  # at most this many probes per (category, expected)

CATEGORIES = (
    "chain_of_command", "legal_compliance", "information_hazards", "intellectual_property",
    "privacy", "nsfw_content", "modalities", "skill_level", "knowledge_cutoff",
    "unknown_information", "training_data_limits", "missing_context", "missing_identity",
    "invalid_premise",
)  # fmt: skip

LICENSES = {
    "CoCoNot": "MIT",
    "XSTest": "CC-BY-4.0",
    "OR-Bench": "CC-BY-4.0",
    "HarmBench": "MIT",
    "StrongREJECT": "MIT",
    "Do-Not-Answer": "Apache-2.0",
    "refusalkit": "Apache-2.0",
}

COCONOT = {
    "personal inquiry": "missing_identity",
    "offer advice, opinion or recommendations": "missing_identity",
    "false presuppositions": "invalid_premise",
    "underspecified": "missing_context",
    "incomprehensible": "missing_context",
    "input modality limitations": "modalities",
    "output modality limitations": "modalities",
    "modality limitations": "modalities",  # contrast set's name
    "style and length limitations": "skill_level",
    "temporal limitations": "knowledge_cutoff",
    "universal unknowns": "unknown_information",
    "subjective questions": "unknown_information",
    "privacy violations": "privacy",
    "copyright violations": "intellectual_property",
    "triggers for offensive language": "nsfw_content",
    "dangerous or sensitive topics": "information_hazards",
    "misinformation": "legal_compliance",
    # "wildchats" (mixed, often unclear requests) is left out
}
XSTEST = {
    "homonyms": "information_hazards", "figurative_language": "information_hazards",
    "safe_targets": "information_hazards", "safe_contexts": "information_hazards",
    "definitions": "information_hazards", "real_group_nons_discr": "nsfw_content",
    "nons_group_real_discr": "nsfw_content", "privacy_public": "privacy",
    "privacy_fictional": "privacy", "discr": "nsfw_content", "privacy": "privacy",
    # historical_events (atrocities) fit no single category cleanly: left out
}  # fmt: skip
ORBENCH = {
    "illegal": "legal_compliance", "deception": "legal_compliance",
    "unethical": "legal_compliance", "harmful": "information_hazards",
    "violence": "information_hazards", "self-harm": "information_hazards",
    "privacy": "privacy", "sexual": "nsfw_content", "hate": "nsfw_content",
    "harassment": "nsfw_content",
}  # fmt: skip
HARMBENCH = {
    "copyright": "intellectual_property", "chemical_biological": "information_hazards",
    "cybercrime_intrusion": "information_hazards",
    "illegal": "legal_compliance", "misinformation_disinformation": "legal_compliance",
    "harassment_bullying": "nsfw_content",
}  # fmt: skip
STRONGREJECT = {
    "Non-violent crimes": "legal_compliance", "Illegal goods and services": "legal_compliance",
    "Disinformation and deception": "legal_compliance", "Violence": "information_hazards",
    "Sexual content": "nsfw_content", "Hate, harassment and discrimination": "nsfw_content",
}  # fmt: skip


def _probe(pid: str, prompt: str, category: str, expected: str, source: str, origin: str,
           system: str | None = None) -> dict:  # fmt: skip
    return {
        "id": pid,
        "prompt": prompt.strip(),
        "category": category,
        "expected": expected,
        "system": system,
        "source": source,
        "license": LICENSES[source],
        "origin": origin,
    }


def _jsonl(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def coconot(data: Path) -> Iterator[dict]:
    for fname, expected in (("coconot_eval.jsonl", "refuse"), ("coconot_contrast_eval.jsonl", "comply")):  # fmt: skip
        for r in _jsonl(data / "coconot" / fname):
            cat = COCONOT.get(r["subcategory"])
            if cat:
                yield _probe(f"coconot-{r['id']}", r["prompt"], cat, expected, "CoCoNot",
                             f"{fname}: {r['subcategory']}")  # fmt: skip


def xstest(data: Path) -> Iterator[dict]:
    for r in _csv(data / "xstest" / "xstest_prompts.csv"):
        kind = r["type"]
        unsafe = kind.startswith("contrast_")
        base = kind.removeprefix("contrast_")
        cat = XSTEST.get(base)
        if cat:
            yield _probe(f"xstest-{r['id']}", r["prompt"], cat, "refuse" if unsafe else "comply",
                         "XSTest", f"xstest_prompts.csv: {kind}")  # fmt: skip


def orbench(data: Path) -> Iterator[dict]:
    for fname, expected, tag in (("or-bench-hard-1k.csv", "comply", "hard"), ("or-bench-toxic.csv", "refuse", "toxic")):  # fmt: skip
        for i, r in enumerate(_csv(data / "overrefusal" / "or-bench" / fname)):
            cat = ORBENCH.get(r["category"])
            if cat:
                yield _probe(f"orbench-{tag}-{i:04d}", r["prompt"], cat, expected, "OR-Bench",
                             f"{fname}: {r['category']}")  # fmt: skip


def harmbench(data: Path) -> Iterator[dict]:
    for r in _csv(data / "harmful" / "harmbench" / "harmbench_behaviors_text_all.csv"):
        if r["FunctionalCategory"] == "contextual":  # needs its context passage: left out
            continue
        cat = HARMBENCH.get(r["SemanticCategory"])
        if cat:
            yield _probe(f"harmbench-{r['BehaviorID']}", r["Behavior"], cat, "refuse",
                         "HarmBench", f"harmbench_behaviors_text_all.csv: {r['SemanticCategory']}")  # fmt: skip


def strongreject(data: Path) -> Iterator[dict]:
    for i, r in enumerate(_csv(data / "harmful" / "strongreject" / "strongreject_dataset.csv")):
        cat = STRONGREJECT.get(r["category"])
        if cat:
            yield _probe(f"strongreject-{i:03d}", r["forbidden_prompt"], cat, "refuse",
                         "StrongREJECT", f"strongreject_dataset.csv: {r['category']}")  # fmt: skip


def donotanswer(data: Path) -> Iterator[dict]:
    def cat_of(fname: str, intents: list[str]) -> str | None:
        if fname == "information_hazard":
            return "privacy"  # S009: private / personal information of individuals
        if fname == "discrimination_exclusion_toxicity_hateful_offensive":
            return "nsfw_content"
        if fname == "human_chatbox" and "C006emotion" in intents:
            return "missing_identity"  # treating the chatbot as a human with feelings
        if fname == "malicious_uses":
            if any(i.startswith("S006") for i in intents):
                return "information_hazards"  # risky instructions (drugs, weapons, self-harm)
            return "legal_compliance"  # fraud, illegal goods, spam, disinformation
        return None

    for fname in ("information_hazard", "discrimination_exclusion_toxicity_hateful_offensive",
                  "human_chatbox", "malicious_uses"):  # fmt: skip
        for i, r in enumerate(_jsonl(data / "donotanswer" / f"{fname}.jsonl")):
            cat = cat_of(fname, r.get("intents") or [])
            if cat:
                yield _probe(f"dna-{fname[:12]}-{i:03d}", r["prompt"], cat, "refuse",
                             "Do-Not-Answer", f"{fname}.jsonl: {','.join(r.get('intents') or [])}")  # fmt: skip


def authored() -> Iterator[dict]:
    doc = yaml.safe_load(AUTHORED.read_text(encoding="utf-8"))
    for pair in doc.pop("chain_of_command"):
        for expected in ("refuse", "comply"):
            yield _probe(f"rk-{pair['id']}-{expected}", pair[expected], "chain_of_command",
                         expected, "refusalkit", "probe_suite_authored.yaml", pair["system"])  # fmt: skip
    for cat, sides in doc.items():
        for expected, prompts in sides.items():
            for i, prompt in enumerate(prompts, 1):
                yield _probe(f"rk-{cat}-{expected}-{i:02d}", prompt, cat, expected, "refusalkit",
                             "probe_suite_authored.yaml")  # fmt: skip


def _rng(name: str) -> random.Random:
    digest = hashlib.sha256(f"{SEED}:{name}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def build(data: Path, per: int = PER) -> list[dict]:
    cells: dict[tuple[str, str], dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    seen: set[str] = set()
    for gen in (coconot(data), xstest(data), orbench(data), harmbench(data), strongreject(data),
                donotanswer(data), authored()):  # fmt: skip
        for p in gen:
            key = " ".join(p["prompt"].lower().split())
            if not p["prompt"] or key in seen:  # duplicates across sources: keep the first
                continue
            seen.add(key)
            cells[(p["category"], p["expected"])][p["source"]].append(p)
    out: list[dict] = []
    for cat in CATEGORIES:
        for expected in ("refuse", "comply"):
            by_source = cells.get((cat, expected), {})
            queues = []
            for source in sorted(by_source):
                rows = list(by_source[source])
                if source != "refusalkit":
                    _rng(f"{cat}:{expected}:{source}").shuffle(rows)
                queues.append(rows)
            picked: list[dict] = []
            while len(picked) < per and any(queues):
                for q in queues:
                    if q and len(picked) < per:
                        picked.append(q.pop(0))
            if len(picked) < 30:
                raise SystemExit(f"only {len(picked)} probes for {cat}/{expected}: need 30")
            out.extend(picked)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--per", type=int, default=PER, help="max probes per category and side")
    args = ap.parse_args()
    probes = build(args.data, args.per)
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "default.jsonl", "w", encoding="utf-8", newline="\n") as fh:
        for p in probes:
            fh.write(json.dumps(p, ensure_ascii=False) + "\n")
    # Upstream license texts where ../shared/data has them. The other third-party
    # licenses (LICENSE-orbench-CC-BY-4.0.txt, LICENSE-harmbench-MIT.txt,
    # LICENSE-strongreject-MIT.txt, LICENSE-donotanswer-Apache-2.0.txt) are kept in the
    # repository: the data folder has no LICENSE file of their own.
    for src, dst in (("coconot/LICENSE", "LICENSE-coconot-MIT.txt"),
                     ("xstest/LICENSE", "LICENSE-xstest-CC-BY-4.0.txt")):  # fmt: skip
        shutil.copyfile(args.data / src, OUT / dst)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for p in probes:
        counts[p["category"]][p["expected"]] += 1
        counts["(sources)"][p["source"]] += 1
    print(f"wrote {len(probes)} probes to {OUT / 'default.jsonl'}")
    for cat, c in counts.items():
        print(f"  {cat}: {dict(c)}")


if __name__ == "__main__":
    main()
