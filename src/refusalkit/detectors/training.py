"""Training for the learned detector (scikit-learn is imported here, never at inference).

`fit_learned` builds the n-gram vocabulary from the training rows, featurises them with
the exact code used at inference (`features.BucketIndex.coo`, as CSR) and fits three
logistic heads; the weights go into `LearnedDetector.set_weights`.

Label semantics (`detectors.base.Label`):
* behavior FULL_COMPLIANCE (or category not_refusal) -> compliance;
* behavior PARTIAL/FULL_REFUSAL -> refusal, and trains the partial-vs-full head;
* behavior None with a refusal category -> a refusal of unknown kind (refusal and
  category heads only), e.g. CoCoNot's noncompliance responses;
* category (a refusal id) trains the category head.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from refusalkit.core.models import Behavior, Exchange
from refusalkit.detectors._taxo import NOT_REFUSAL
from refusalkit.detectors.base import Label
from refusalkit.detectors.dense import LENGTH_NAMES, dense_names
from refusalkit.detectors.features import BucketIndex, select_buckets
from refusalkit.detectors.shape import PIVOT_NAMES

if TYPE_CHECKING:
    from refusalkit.detectors.learned import LearnedDetector

#: Default regularisation (inverse strength) per head, chosen by cross-model validation.
DEFAULT_C = {"refusal": 8.0, "partial": 4.0, "category": 8.0}


def refusal_target(label: Label, categories: Sequence[str]) -> int | None:
    """1 refusal, 0 compliance, None unknown."""
    if label.behavior is Behavior.FULL_COMPLIANCE:
        return 0
    if label.behavior in (Behavior.PARTIAL_REFUSAL, Behavior.FULL_REFUSAL):
        return 1
    if label.behavior is None and label.category:
        if label.category == NOT_REFUSAL:
            return 0
        if label.category in categories:
            return 1
    return None


#: Dense features each behaviour head must not use. Length/layout is a shortcut on GPT-4
#: data (short = refusal) that fails on verbose models such as Llama-2 (long lectures);
#: the amount of text after a pivot has the same problem for the partial head (measured:
#: cross-model Llama-2 3-way accuracy 0.83 -> 0.57 with them). So has the pivot itself:
#: GPT-4's full refusals never pivot ("Instead, ..."), Llama-2's usually do, so a partial
#: head trained on GPT-4 called 58 of Llama-2's 222 full refusals partial (3-way 0.73;
#: 0.82 without `pivot` and `impossible_expl`, model 1.1.0).
DEFAULT_DROP: dict[str, tuple[str, ...]] = {
    "refusal": LENGTH_NAMES,
    "partial": (*LENGTH_NAMES, *PIVOT_NAMES, "impossible_expl"),
}


def _drop_dense(X, n_hashed: int, names: Sequence[str], drop: Sequence[str]):  # type: ignore[no-untyped-def]
    """Zero the named dense columns (see DEFAULT_DROP)."""
    cols = [n_hashed + i for i, name in enumerate(names) if name in set(drop)]
    if not cols:
        return X
    X = X.tocsc(copy=True)
    for c in cols:
        X.data[X.indptr[c] : X.indptr[c + 1]] = 0
    X.eliminate_zeros()
    return X.tocsr()


def _logreg(X, y, w, C: float, *, multinomial: bool = False):  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=C, max_iter=3000, tol=1e-5)
    clf.fit(X, y, sample_weight=w)
    return clf


def fit_learned(
    det: LearnedDetector,
    exchanges: Sequence[Exchange],
    labels: Sequence[Label],
    sample_weight: Sequence[float] | None = None,
    *,
    C: dict[str, float] | None = None,
    min_df: int = 2,
    drop: dict[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Fit `det` in place; returns training statistics (also stored in `det.training`)."""
    t0 = time.time()
    if len(exchanges) != len(labels):
        raise ValueError("exchanges and labels differ in length")
    Cs = {**DEFAULT_C, **(C or {})}
    drops = {**DEFAULT_DROP, **(drop or {})}
    names = dense_names(det.cfg.dense)
    cats = det.categories
    w_all = np.ones(len(exchanges)) if sample_weight is None else np.asarray(sample_weight, float)
    keep = [i for i, e in enumerate(exchanges) if e.response and e.response.strip()]
    responses = [exchanges[i].response for i in keep]
    prompts = [exchanges[i].prompt or "" for i in keep]
    labs = [labels[i] for i in keep]
    w = w_all[keep]

    buckets = select_buckets(responses, prompts, det.cfg, min_df=min_df)
    index = BucketIndex(buckets, det.cfg)
    # behaviour heads see no prompt n-grams (only the dense prompt cues); category sees both
    X_resp = index.matrix(responses, None, prompts)
    X_all = index.matrix(responses, prompts, prompts)
    ncols = X_resp.shape[1]
    W = np.zeros((ncols, 2 + len(cats)), dtype=np.float64)
    b = np.zeros(2 + len(cats), dtype=np.float64)
    stats: dict[str, Any] = {"rows": len(keep), "columns": int(index.n_columns)}

    # refusal head
    yr = [refusal_target(lab, cats) for lab in labs]
    ir = [i for i, y in enumerate(yr) if y is not None]
    if len({yr[i] for i in ir}) < 2:
        raise ValueError("training data needs both refusals and compliant responses")
    Xr = _drop_dense(X_resp[ir], index.n_columns, names, drops["refusal"])
    clf = _logreg(Xr, np.array([yr[i] for i in ir]), w[ir], Cs["refusal"])
    W[:, 0], b[0] = clf.coef_[0], clf.intercept_[0]
    stats["refusal_rows"] = len(ir)

    # partial-vs-full head
    ip = [
        i
        for i, lab in enumerate(labs)
        if lab.behavior in (Behavior.PARTIAL_REFUSAL, Behavior.FULL_REFUSAL)
    ]
    yp = np.array([1 if labs[i].behavior is Behavior.PARTIAL_REFUSAL else 0 for i in ip])
    if len(set(yp.tolist())) == 2:
        Xp = _drop_dense(X_resp[ip], index.n_columns, names, drops["partial"])
        clf = _logreg(Xp, yp, w[ip], Cs["partial"])
        W[:, 1], b[1] = clf.coef_[0], clf.intercept_[0]
    else:  # no partial examples: never predict partial
        b[1] = -30.0 if not yp.any() else 30.0
    stats["partial_rows"] = len(ip)
    stats["partial_positives"] = int(yp.sum()) if len(ip) else 0

    # category head
    ic = [i for i, lab in enumerate(labs) if lab.category in cats and yr[i] == 1]
    yc = np.array([cats.index(labs[i].category) for i in ic])
    present = sorted(set(yc.tolist()))
    b[2:] = -30.0
    if len(present) >= 2:
        clf = _logreg(X_all[ic], yc, w[ic], Cs["category"], multinomial=True)
        for k, cls in enumerate(clf.classes_):
            W[:, 2 + cls] = clf.coef_[k]
            b[2 + cls] = clf.intercept_[k]
    elif len(present) == 1:
        b[2 + present[0]] = 0.0
    stats["category_rows"] = len(ic)
    stats["category_counts"] = {cats[c]: int((yc == c).sum()) for c in present}
    stats["seconds"] = round(time.time() - t0, 1)
    stats["C"] = Cs
    stats["dropped_dense"] = {k: list(v) for k, v in drops.items()}
    det.set_weights(buckets, W.astype(np.float32), b.astype(np.float32))
    det.training = {**det.training, **stats}
    assert ncols == index.n_columns + len(dense_names(det.cfg.dense))
    return stats


# -- training from a user's labelled file (`refusalkit train`) ------------------------


def split_by_prompt(exchanges: Sequence[Exchange], test_size: float, seed: int) -> list[bool]:
    """True for held-out rows. Every exchange of a prompt lands on the same side, so the
    held-out score never rewards memorising a prompt's completions."""
    import hashlib

    out = []
    for e in exchanges:
        h = hashlib.sha1(f"{seed}\x00{e.prompt.strip().lower()}".encode()).digest()
        out.append(int.from_bytes(h[:8], "big") / 2**64 < test_size)
    return out


def labels_from_gold(gold: Sequence[Any]) -> list[Label]:
    """`evaluation.Gold` rows -> training `Label`s (first accepted category id)."""
    out = []
    for g in gold:
        beh = None if g.behavior in (None, "refusal") else Behavior(g.behavior)
        cat = sorted(g.categories)[0] if g.categories else None
        if beh is Behavior.FULL_COMPLIANCE:
            cat = NOT_REFUSAL
        out.append(Label(behavior=beh, category=cat))
    return out


def write_model_card(
    folder: Any,
    det: LearnedDetector,
    *,
    sources: Sequence[str],
    metrics: dict[str, Any] | None,
    notes: str = "",
) -> None:
    """MODEL_CARD.md next to the weights: data, sizes, metrics, date."""
    import datetime as dt
    from pathlib import Path

    tr = det.training
    lines = [
        f"# Model card: {det.name} (learned refusal detector, version {det.version})",
        "",
        f"- Trained: {tr.get('date') or dt.date.today().isoformat()} with refusalkit `train`",
        f"- Training rows: {tr.get('rows')}; vocabulary columns: {tr.get('columns')}",
        f"- Heads: refusal ({tr.get('refusal_rows')} rows), partial-vs-full "
        f"({tr.get('partial_rows')} rows, {tr.get('partial_positives')} partial), category "
        f"({tr.get('category_rows')} rows)",
        f"- Category counts: {tr.get('category_counts')}",
        "- Data: " + ", ".join(str(s) for s in sources),
        "- Licence: that of the training data (check each source).",
        "",
    ]
    if metrics:
        lines += ["## Held-out metrics (split by prompt)", ""]
        lines += ["| task | n | accuracy | macro-F1 | kappa |", "|---|---|---|---|---|"]
        for task, m in metrics.items():
            if m.get("n"):
                lines.append(
                    f"| {task} | {m['n']} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | "
                    f"{m['kappa']:.3f} |"
                )
        lines.append("")
    if notes:
        lines += [notes, ""]
    Path(folder, "MODEL_CARD.md").write_text("\n".join(lines))
