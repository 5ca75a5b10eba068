"""Fast, vectorised text features for the learned refusal detector (numpy only).

Why this design:

* **Bounded windows.** Refusals show in the first and last sentences of a response, so only
  the first `head_chars` and last `tail_chars` characters are featurised, plus the start
  of the prompt (used by the category head only). A 20 kB answer costs the same as a
  one-liner.
* **Hashed n-grams without a Python loop per token.** A whole batch of windows is joined
  into one byte stream; a lookup table normalises it (lower case, punctuation -> space);
  a polynomial prefix hash over the stream gives the hash of *any* substring in O(1), so
  word 1-3-grams, the first words of the response and (optionally) character n-grams are
  all hashed with a handful of vectorised numpy operations. The hash is deterministic
  (no per-process salt), so training and inference agree across processes and machines.
* **Namespaces.** Head, tail and prompt windows hash into separate bucket ranges, so "I
  can't" at the start of a response and at its end are different features.
* **Normalisation without sorting.** A feature's value is its count divided by the square
  root of the number of features in its (row, namespace) window. Scoring a linear model is
  then a gather plus `np.bincount`, with no per-row deduplication; training builds the
  identical matrix with scipy.

No scikit-learn or torch import here: inference must stay light and fast.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

_P = np.uint64(0x9E3779B97F4A7C15 | 1)  # odd multiplier of the polynomial hash
_P_INV = np.uint64(pow(int(_P), -1, 2**64))
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)

# byte classes: 0 = separator (becomes a space), 1 = word byte, 2 = window boundary
_SPACE, _BOUND = 32, 0
_LUT = np.full(256, _SPACE, dtype=np.uint8)
for _c in b"abcdefghijklmnopqrstuvwxyz0123456789'?":
    _LUT[_c] = _c
_LUT[128:] = np.arange(128, 256, dtype=np.uint8)  # UTF-8 bytes of non-ASCII letters
_LUT[0] = _BOUND

#: Character replacements applied once to the joined batch (C-speed str.replace).
_REPLACE = (("’", "'"), ("‘", "'"), ("“", " "), ("”", " "), ("—", " "), ("–", " "), ("?", " ? "))

# feature type salts (namespaces are added on top)
_T_WORD1, _T_WORD2, _T_WORD3, _T_FIRST, _T_CHAR = 1, 2, 3, 4, 5
_N_NS = 4  # 0 = first sentence, 1 = response head, 2 = response tail, 3 = prompt head
NS_FIRST, NS_HEAD, NS_TAIL, NS_PROMPT = 0, 1, 2, 3
_SENT_END = re.compile(r"[.!?:](?=\s|$)|\n")


@dataclass(frozen=True, slots=True)
class FeatureConfig:
    """Featurisation settings, saved with a model so inference reproduces training."""

    bits: int = 18
    first_chars: int = 200
    head_chars: int = 320
    tail_chars: int = 160
    prompt_chars: int = 200
    char_ngrams: tuple[int, ...] = ()
    first_words: int = 4
    #: dense feature set: 1 = length/layout + rule hits (models 1.0); 2 = + SHAPE_NAMES
    dense: int = 2

    def to_dict(self) -> dict:
        d = asdict(self)
        d["char_ngrams"] = list(self.char_ngrams)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> FeatureConfig:
        d = dict(d)
        d["char_ngrams"] = tuple(d.get("char_ngrams") or ())
        d.setdefault("dense", 1)  # saved before dense version 2 existed
        return cls(**d)


class _Powers:
    """Cached powers P^i and P^-i (mod 2^64), grown on demand."""

    def __init__(self) -> None:
        self.pow = np.ones(1, dtype=np.uint64)
        self.inv = np.ones(1, dtype=np.uint64)

    def ensure(self, n: int) -> None:
        if len(self.pow) >= n:
            return
        size = max(n, 2 * len(self.pow))
        with np.errstate(over="ignore"):
            p = np.full(size, _P, dtype=np.uint64)
            p[0] = 1
            self.pow = np.cumprod(p, dtype=np.uint64)
            q = np.full(size, _P_INV, dtype=np.uint64)
            q[0] = 1
            self.inv = np.cumprod(q, dtype=np.uint64)


_POWERS = _Powers()


def _mix(h: np.ndarray, salt: np.ndarray | int, bits: int) -> np.ndarray:
    """Finalise substring hashes (splitmix64-style) and keep `bits` bits."""
    with np.errstate(over="ignore"):
        x = h ^ np.uint64(salt) if np.isscalar(salt) else h ^ salt
        x = (x ^ (x >> np.uint64(30))) * _MIX1
        x = (x ^ (x >> np.uint64(27))) * _MIX2
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(64 - bits)).astype(np.int64)


def windows(
    responses: Sequence[str], prompts: Sequence[str] | None, cfg: FeatureConfig
) -> list[str]:
    """The text windows featurised for a batch: first sentences, heads, tails, prompt heads."""
    hc, tc, pc, fc = cfg.head_chars, cfg.tail_chars, cfg.prompt_chars, cfg.first_chars
    search = _SENT_END.search
    firsts = []
    for r in responses:
        m = search(r, 12, fc)
        firsts.append(r[: m.end()] if m else r[:fc])
    heads = [r[:hc] for r in responses]
    tails = [r[-tc:] if len(r) > hc else "" for r in responses]
    ps = [""] * len(responses) if prompts is None else [p[:pc] for p in prompts]
    return firsts + heads + tails + ps


#: Words without which no rule in `rules` can fire: rows whose response windows contain
#: none of them skip the (comparatively slow) regex rules entirely.
RULE_KEYWORDS = (
    "sorry",
    "apologize",
    "apologise",
    "apologies",
    "apologizing",
    "unfortunately",
    "afraid",
    "ai",
    "cannot",
    "can't",
    "cant",
    "won't",
    "wont",
    "unable",
    "decline",
    "clarify",
    "appropriate",
    "ethical",
    "permitted",
    "programmed",
    "allowed",
    "able",
    "possible",
    "aware",
    "sure",
    "language",
    "intelligence",
    "don't",
    "dont",
    "against",
    "refuse",
    "accurate",
    "fair",
    "respectful",
    "acceptable",
    "satisfy",
)


def _poly_hash(word: str) -> int:
    h, p = 0, 1
    for byte in word.encode():
        h = (h + byte * p) % 2**64
        p = (p * int(_P)) % 2**64
    return h


_KEYWORD_HASHES = np.array(sorted(_poly_hash(w) for w in RULE_KEYWORDS), dtype=np.uint64)


def hashed_entries(
    responses: Sequence[str],
    prompts: Sequence[str] | None,
    cfg: FeatureConfig,
    keyword_mask: list[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(window index, global bucket) for every n-gram in the batch, duplicates kept.

    Window index `w` is `ns * n + row`; the global bucket is `ns << bits | hash`. If
    `keyword_mask` is a list, a boolean array (rows whose response windows hold one of
    `RULE_KEYWORDS`) is appended to it.
    """
    n = len(responses)
    wins = windows(responses, prompts, cfg)
    joined = "\x00".join(w.replace("\x00", " ") if "\x00" in w else w for w in wins) + "\x00"
    joined = joined.lower()
    for a, b in _REPLACE:
        if a in joined:
            joined = joined.replace(a, b)
    raw = np.frombuffer(joined.encode("utf-8", "replace"), dtype=np.uint8)
    c = _LUT[raw]
    # collapse separator runs: drop a space after a space/boundary
    prev = np.empty_like(c)
    prev[0] = _BOUND
    prev[1:] = c[:-1]
    keep = ~((c == _SPACE) & ((prev == _SPACE) | (prev == _BOUND)))
    s = c[keep]
    L = len(s)
    is_bound = s == _BOUND
    win_of = np.cumsum(is_bound) - is_bound  # window index of each byte
    _POWERS.ensure(L + 1)
    with np.errstate(over="ignore"):
        H = np.zeros(L + 1, dtype=np.uint64)
        np.cumsum(s.astype(np.uint64) * _POWERS.pow[:L], out=H[1:])

    def sub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return (H[b] - H[a]) * _POWERS.inv[a]

    is_word = (s != _SPACE) & ~is_bound
    prev_w = np.empty_like(is_word)
    prev_w[0] = False
    prev_w[1:] = is_word[:-1]
    next_w = np.empty_like(is_word)
    next_w[-1] = False
    next_w[:-1] = is_word[1:]
    starts = np.flatnonzero(is_word & ~prev_w)
    ends = np.flatnonzero(is_word & ~next_w) + 1
    wwin = win_of[starts]
    ns_of_win = np.arange(_N_NS * n) // max(n, 1)
    out_w: list[np.ndarray] = []
    out_b: list[np.ndarray] = []
    bits = cfg.bits

    def emit(h: np.ndarray, win: np.ndarray, ftype: int) -> None:
        ns = ns_of_win[win].astype(np.int64)
        salt = (ns.astype(np.uint64) << np.uint64(8)) | np.uint64(ftype)
        out_w.append(win)
        out_b.append((ns << bits) | _mix(h, salt * np.uint64(0x100000001B3), bits))

    h1 = sub(starts, ends)
    emit(h1, wwin, _T_WORD1)
    if keyword_mask is not None:
        # first sentence and tail only: where refusals open and where hedges close
        ns_w = ns_of_win[wwin]
        hit = np.isin(h1, _KEYWORD_HASHES) & ((ns_w == NS_FIRST) | (ns_w == NS_TAIL))
        keyword_mask.append(np.bincount(wwin[hit] % max(n, 1), minlength=n) > 0)
    for k, ftype in ((2, _T_WORD2), (3, _T_WORD3)):
        if len(starts) >= k:
            same = wwin[: len(wwin) - k + 1] == wwin[k - 1 :]
            a = starts[: len(starts) - k + 1][same]
            b = ends[k - 1 :][same]
            emit(sub(a, b), wwin[: len(wwin) - k + 1][same], ftype)
    if cfg.first_words and len(starts):
        # anchored features: the first 1..k words of each window, as one substring each
        first_idx = np.flatnonzero(np.r_[True, wwin[1:] != wwin[:-1]])
        # only where a window starts at the start of its text (first sentence, prompt)
        first_idx = first_idx[np.isin(ns_of_win[wwin[first_idx]], (NS_FIRST, NS_PROMPT))]
        for k in range(1, cfg.first_words + 1):
            j = first_idx + (k - 1)
            ok = j < len(starts)
            j, f = j[ok], first_idx[ok]
            ok = wwin[j] == wwin[f]
            j, f = j[ok], f[ok]
            emit(sub(starts[f], ends[j]), wwin[f], _T_FIRST + 16 * k)
    for k in cfg.char_ngrams:
        pos = np.arange(L - k + 1)
        # valid when no boundary inside [pos, pos+k)
        cb = np.cumsum(np.r_[0, is_bound.astype(np.int32)])
        ok = (cb[pos + k] - cb[pos]) == 0
        pos = pos[ok]
        emit(sub(pos, pos + k), win_of[pos], _T_CHAR + 16 * k)
    return np.concatenate(out_w), np.concatenate(out_b)


class BucketIndex:
    """Maps global buckets to the model's columns (unseen/rare buckets -> -1)."""

    def __init__(self, buckets: np.ndarray, cfg: FeatureConfig) -> None:
        self.cfg = cfg
        self.buckets = np.asarray(buckets, dtype=np.int64)
        self.remap = np.full(_N_NS << cfg.bits, -1, dtype=np.int32)
        self.remap[self.buckets] = np.arange(len(self.buckets), dtype=np.int32)
        # namespace of each column, for per-head masking
        self.col_ns = (self.buckets >> cfg.bits).astype(np.int8)

    @property
    def n_columns(self) -> int:
        return len(self.buckets)

    def entries(
        self,
        responses: Sequence[str],
        prompts: Sequence[str] | None,
        keyword_mask: list[np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, column, value) triplets with duplicates kept; value = 1/sqrt(window count)."""
        n = len(responses)
        win, bucket = hashed_entries(responses, prompts, self.cfg, keyword_mask)
        col = self.remap[bucket]
        ok = col >= 0
        win, col = win[ok], col[ok]
        counts = np.bincount(win, minlength=_N_NS * n).astype(np.float32)
        scale = 1.0 / np.sqrt(np.maximum(counts, 1.0))
        return win % max(n, 1), col, scale[win]

    def coo(
        self,
        responses: Sequence[str],
        prompts: Sequence[str] | None,
        dense_prompts: Sequence[str] | None = None,
    ):  # type: ignore[no-untyped-def]
        """The feature matrix (hashed block, then the dense block) as scipy COO, duplicate
        entries not yet summed: what scoring multiplies and training converts to CSR.
        `prompts` feed the hashed prompt namespace, `dense_prompts` the dense prompt cues.

        The dense cues (mostly zeros) join as sparse entries, so scoring is one sparse
        product: a dense `D @ W` went to OpenBLAS, whose threads spin on every core even
        for a tiny product (twice the CPU per row, and forked workers fighting for the
        cores; docs/benchmarks.md)."""
        import scipy.sparse as sp

        from refusalkit.detectors.dense import dense_features

        n = len(responses)
        mask: list[np.ndarray] = []
        rows, cols, vals = self.entries(responses, prompts, mask)
        D = dense_features(responses, mask[0], dense_prompts, version=self.cfg.dense)
        dr, dc = np.nonzero(D)
        return sp.coo_matrix(
            (
                np.concatenate([vals, D[dr, dc]]),
                (np.concatenate([rows, dr]), np.concatenate([cols, dc + self.n_columns])),
            ),
            shape=(n, self.n_columns + D.shape[1]),
        )

    def matrix(
        self,
        responses: Sequence[str],
        prompts: Sequence[str] | None,
        dense_prompts: Sequence[str] | None = None,
    ):  # type: ignore[no-untyped-def]
        """The CSR matrix used for training (`coo` with duplicates summed)."""
        return self.coo(responses, prompts, dense_prompts).tocsr()


def select_buckets(
    responses: Sequence[str], prompts: Sequence[str] | None, cfg: FeatureConfig, min_df: int = 2
) -> np.ndarray:
    """Buckets occurring in at least `min_df` training rows (the model's vocabulary)."""
    n = len(responses)
    win, bucket = hashed_entries(responses, prompts, cfg)
    row = (win % max(n, 1)).astype(np.int64)
    key = np.unique(row * (np.int64(_N_NS) << cfg.bits) + bucket)
    b = key % (np.int64(_N_NS) << cfg.bits)
    uniq, df = np.unique(b, return_counts=True)
    return uniq[df >= min_df]
