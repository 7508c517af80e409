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

__all__ = ["delong_test", "paired_bootstrap"]


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
        raise ValueError(f"delong_test: y, p_a and p_b must be 1-d of the same length; got {len(y)}, {len(p_a)}, {len(p_b)}")
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
    y, a, b, metric_fn: Callable, n: int = 1000, random_state: int = 0, confidence: float = 0.95,
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
