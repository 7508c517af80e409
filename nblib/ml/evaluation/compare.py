"""Is model B better than model A on the same test rows? Paired tests.

Two runs scored on the same held-out rows make paired observations: the
difference of a metric is then far less noisy than the two separate intervals
suggest. :func:`delong_test` compares two ROC-AUCs (DeLong, DeLong and
Clarke-Pearson 1988, in the fast form of Sun and Xu 2014); :func:`paired_bootstrap`
compares any other metric by resampling rows once for both models.

Every function returns ``(diff, (lo, hi), p_value)`` with ``diff`` = metric(B) − metric(A).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats

__all__ = ["delong_test", "paired_bootstrap", "paired_comparison", "paired_tests", "shared_truth"]


def delong_test(y, p_a, p_b, confidence: float = 0.95) -> tuple[float, tuple[float, float], float]:
    """DeLong's test of two correlated ROC-AUCs.

    Parameters
    ----------
    y : array-like of shape (n,)
        True labels, 0/1 (or booleans).
    p_a, p_b : array-like of shape (n,)
        Scores of model A and model B on the same rows.
    confidence : float, default=0.95
        Level of the normal interval of the difference.

    Returns
    -------
    diff : float
        AUC(B) − AUC(A).
    interval : tuple of float
        Its confidence interval.
    p_value : float
        Two-sided p-value of "the AUCs are equal".

    Examples
    --------
    >>> y = [0, 0, 1, 1, 0, 1]
    >>> diff, _, p = delong_test(y, [.1, .4, .35, .8, .2, .7], [.1, .2, .6, .8, .3, .7])
    >>> round(diff, 4)
    0.1111
    """
    y = np.asarray(y).astype(bool)
    p_a, p_b = np.asarray(p_a, dtype=float), np.asarray(p_b, dtype=float)
    if not (y.ndim == p_a.ndim == p_b.ndim == 1 and len(y) == len(p_a) == len(p_b)):
        raise ValueError(
            f"delong_test: y, p_a and p_b must be 1-d of the same length; got {len(y)}, {len(p_a)}, {len(p_b)}"
        )
    scores = np.vstack([p_a, p_b])
    m, n = int(y.sum()), int((~y).sum())
    if m == 0 or n == 0:
        raise ValueError("delong_test: y must hold both classes")
    aucs, v10, v01 = _placements(scores[:, y], scores[:, ~y])
    cov = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n
    diff = float(aucs[1] - aucs[0])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    if var <= 1e-15:  # identical rankings: no difference to test
        return diff, (diff, diff), 1.0 if abs(diff) < 1e-12 else 0.0
    se = np.sqrt(var)
    z = stats.norm.ppf(0.5 + confidence / 2)
    p_value = float(2 * stats.norm.sf(abs(diff) / se))
    return diff, (float(diff - z * se), float(diff + z * se)), p_value


def paired_bootstrap(
    y,
    a,
    b,
    metric_fn: Callable,
    n: int = 1000,
    random_state: int = 0,
    confidence: float = 0.95,
) -> tuple[float, tuple[float, float], float]:
    """Paired bootstrap of metric(B) − metric(A): both models scored on the same resampled rows.

    Parameters
    ----------
    y : array-like of shape (n_rows,)
        True values.
    a, b : array-like of shape (n_rows,) or (n_rows, k)
        Scores or predictions of model A and model B on the same rows.
    metric_fn : callable
        ``metric_fn(y, scores) -> float``.
    n : int, default=1000
        Number of resamples. A resample that ``metric_fn`` cannot score (one class only) is skipped.
    random_state : int, default=0
        Seed of the resamples.
    confidence : float, default=0.95
        Level of the percentile interval.

    Returns
    -------
    diff : float
        metric(B) − metric(A) on all rows.
    interval : tuple of float
        Percentile interval of the resampled differences.
    p_value : float
        Two-sided p-value of "no difference": how often a resampled difference, centred on zero,
        is at least as far from zero as ``diff`` (never below 1 / (n + 1)).

    Examples
    --------
    >>> import numpy as np
    >>> y = np.arange(50.0)
    >>> mae = lambda t, p: float(np.mean(np.abs(t - p)))
    >>> diff, (lo, hi), p = paired_bootstrap(y, y + 1, y + 0.5, mae, n=200)
    >>> diff, lo < 0 and hi < 0, p < 0.05
    (-0.5, True, True)
    """
    y, a, b = np.asarray(y), np.asarray(a), np.asarray(b)
    if not (len(y) == len(a) == len(b)):
        raise ValueError(f"paired_bootstrap: y, a and b must have the same length; got {len(y)}, {len(a)}, {len(b)}")
    if n < 1:
        raise ValueError(f"paired_bootstrap: n must be at least 1; got {n}")
    diff = float(metric_fn(y, b) - metric_fn(y, a))
    rng = np.random.default_rng(random_state)
    deltas = []
    for idx in rng.integers(0, len(y), (n, len(y))):
        try:
            deltas.append(metric_fn(y[idx], b[idx]) - metric_fn(y[idx], a[idx]))
        except ValueError:  # e.g. a resample with one class
            continue
    deltas = np.asarray(deltas, dtype=float)
    deltas = deltas[np.isfinite(deltas)]
    if not len(deltas):
        return diff, (diff, diff), float("nan")
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(deltas, [alpha, 1 - alpha])
    centred = deltas - deltas.mean()
    if abs(diff) < 1e-12 and not centred.any():
        return diff, (float(lo), float(hi)), 1.0
    p_value = (1 + int(np.sum(np.abs(centred) >= abs(diff) - 1e-12))) / (len(deltas) + 1)
    return diff, (float(lo), float(hi)), float(min(1.0, p_value))


def shared_truth(pred_a, pred_b) -> str | None:
    """The truth column when two predictions frames hold the same test rows with the same truth, else None."""
    truth_a = [c for c in pred_a.columns if c != "score" and not str(c).startswith("proba_")]
    truth_b = [c for c in pred_b.columns if c != "score" and not str(c).startswith("proba_")]
    if len(truth_a) != 1 or truth_a != truth_b or not pred_a.index.equals(pred_b.index):
        return None
    a, b = pred_a[truth_a[0]], pred_b[truth_b[0]]
    same = a.equals(b) or (len(a) == len(b) and bool((a.astype(str).to_numpy() == b.astype(str).to_numpy()).all()))
    return truth_a[0] if same else None


def paired_comparison(
    pred_a, pred_b, xa: dict, xb: dict, *, n: int = 1000, metrics: tuple[str, ...] | None = None
) -> dict:
    """B against A when both runs scored the same test rows (same index, same truth, same task):
    ``{"paired": True, "note", "tests"}`` (see :func:`paired_tests`), else ``{"paired": False, "note"}``
    saying why not. ``pred_*`` are ``predictions.parquet`` frames, ``x*`` the runs' ``metrics.json``."""
    target = shared_truth(pred_a, pred_b)
    if target is None:
        return {"paired": False, "note": "not paired: the test rows differ"}
    if xa.get("task") != xb.get("task"):
        return {"paired": False, "note": "not paired: the runs have different tasks"}
    try:
        tests = paired_tests(pred_a, pred_b, target, xa, xb, n=n, metrics=metrics)
    except (KeyError, ValueError) as exc:
        return {"paired": False, "note": f"not paired: {exc}"}
    return {
        "paired": True,
        "note": f"{len(pred_a)} shared test rows; DeLong for ROC-AUC, paired bootstrap ({n} resamples) for the others",
        "tests": tests,
    }


def paired_tests(
    pred_a, pred_b, target: str, xa: dict, xb: dict, n: int = 1000, metrics: tuple[str, ...] | None = None
) -> dict[str, dict]:
    """Paired tests of B against A for every test metric of the task (or only ``metrics``).

    ``pred_a`` and ``pred_b`` are two runs' ``predictions.parquet`` frames on the same rows
    (see :func:`shared_truth`); ``xa`` and ``xb`` their ``metrics.json`` (task, positive class,
    threshold). Returns metric -> ``{"diff", "lo", "hi", "p_value", "test"}``, diff = B − A.
    """
    from sklearn import metrics as skm

    y = pred_a[target].to_numpy()
    out = {}

    def record(name, result, test):
        diff, (lo, hi), p = result()
        out[name] = {"diff": diff, "lo": lo, "hi": hi, "p_value": None if np.isnan(p) else p, "test": test}

    def wanted(name, result, test):
        if metrics is None or name in metrics:
            record(name, result, test)

    boot = {"n": n, "random_state": 0}
    if xa.get("task") == "regression":
        a, b = pred_a["score"].to_numpy(float), pred_b["score"].to_numpy(float)
        fns = {"rmse": skm.root_mean_squared_error, "mae": skm.mean_absolute_error, "r2": skm.r2_score}
        for name, fn in fns.items():
            wanted(name, lambda fn=fn: paired_bootstrap(y, a, b, fn, **boot), "paired bootstrap")
        return out
    if "score" in pred_a and "score" in pred_b:  # two classes
        positive = xb.get("positive_class", xa.get("positive_class", 1))
        yb = (y == positive).astype(int)
        a, b = pred_a["score"].to_numpy(float), pred_b["score"].to_numpy(float)
        ha, hb = (a >= xa.get("threshold", 0.5)).astype(int), (b >= xb.get("threshold", 0.5)).astype(int)
        wanted("roc_auc", lambda: delong_test(yb, a, b), "DeLong")
        wanted("pr_auc", lambda: paired_bootstrap(yb, a, b, skm.average_precision_score, **boot), "paired bootstrap")
        wanted("brier", lambda: paired_bootstrap(yb, a, b, _brier, **boot), "paired bootstrap")
        wanted("f1", lambda: paired_bootstrap(yb, ha, hb, _f1, **boot), "paired bootstrap, each run's threshold")
        wanted(
            "balanced_accuracy",
            lambda: paired_bootstrap(yb, ha, hb, _balanced_accuracy, **boot),
            "paired bootstrap, each run's threshold",
        )
        return out
    cols = [c for c in pred_a.columns if str(c).startswith("proba_")]
    if cols != [c for c in pred_b.columns if str(c).startswith("proba_")]:
        raise ValueError("the runs have different classes")
    classes = [c[len("proba_") :] for c in cols]
    codes = np.asarray([classes.index(str(v)) for v in y])
    a, b = pred_a[cols].to_numpy(float), pred_b[cols].to_numpy(float)
    # the same definitions as the headline metrics (nblib.ml.evaluation.metrics): macro over the classes present in the
    # rows, so a rare class missing from the test split or from a resample is left out instead of failing
    from nblib.ml.evaluation.metrics import ovr_roc_auc

    wanted("roc_auc", lambda: paired_bootstrap(codes, a, b, ovr_roc_auc, **boot), "paired bootstrap")

    def f1(t, p):
        return skm.f1_score(t, p.argmax(axis=1), average="macro", labels=np.unique(t), zero_division=0)

    wanted("f1", lambda: paired_bootstrap(codes, a, b, f1, **boot), "paired bootstrap")

    def bal(t, p):
        return skm.balanced_accuracy_score(t, p.argmax(axis=1))

    wanted("balanced_accuracy", lambda: paired_bootstrap(codes, a, b, bal, **boot), "paired bootstrap")
    return out


# Two-class metrics in plain numpy (the same values as scikit-learn's, a hundred times faster per resample).


def _brier(y, p):
    return float(np.mean((p - y) ** 2))


def _f1(y, pred):
    tp, fp, fn = int((pred & y).sum()), int((pred & ~y & 1).sum()), int((~pred & 1 & y).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def _balanced_accuracy(y, pred):
    pos, neg = int(y.sum()), int((1 - y).sum())
    if not pos or not neg:
        raise ValueError("one class only")
    return ((pred & y).sum() / pos + ((1 - pred) & (1 - y)).sum() / neg) / 2


# --------------------------------------------------------------------------- helpers


def _placements(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each model's AUC and the structural components V10 (positives) and V01 (negatives)."""
    m, n = pos.shape[1], neg.shape[1]
    tx = np.vstack([stats.rankdata(row) for row in pos])
    ty = np.vstack([stats.rankdata(row) for row in neg])
    tz = np.vstack([stats.rankdata(row) for row in np.hstack([pos, neg])])
    aucs = (tz[:, :m].sum(axis=1) / m - (m + 1) / 2) / n
    v10 = (tz[:, :m] - tx) / n
    v01 = 1 - (tz[:, m:] - ty) / m
    return aucs, v10, v01
