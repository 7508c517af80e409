import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import mean_absolute_error, roc_auc_score

from nblib.ml.evaluation.compare import delong_test, paired_bootstrap


def _naive_delong(y, p_a, p_b):
    """DeLong's variance straight from its definition (O(m·n) Heaviside kernel), as a reference."""
    y = np.asarray(y).astype(bool)
    out = []
    for p in (np.asarray(p_a, float), np.asarray(p_b, float)):
        x, z = p[y], p[~y]
        psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
        out.append((psi.mean(), psi.mean(axis=1), psi.mean(axis=0)))
    (auc_a, v10a, v01a), (auc_b, v10b, v01b) = out
    m, n = y.sum(), (~y).sum()
    var = (np.var(v10a, ddof=1) + np.var(v10b, ddof=1) - 2 * np.cov(v10a, v10b)[0, 1]) / m + (
        np.var(v01a, ddof=1) + np.var(v01b, ddof=1) - 2 * np.cov(v01a, v01b)[0, 1]
    ) / n
    return auc_b - auc_a, var


def _data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    a = y * 0.8 + rng.normal(size=n)
    b = y * 1.1 + rng.normal(size=n)
    return y, np.round(a, 1), np.round(b, 1)  # rounding makes ties, which DeLong must count as ½


def test_delong_matches_the_definition_with_ties():
    y, a, b = _data()
    diff, (lo, hi), p = delong_test(y, a, b)
    ref_diff, ref_var = _naive_delong(y, a, b)
    assert diff == pytest.approx(roc_auc_score(y, b) - roc_auc_score(y, a), abs=1e-12)
    assert diff == pytest.approx(ref_diff, abs=1e-12)
    assert (hi - lo) / (2 * stats.norm.ppf(0.975)) == pytest.approx(np.sqrt(ref_var), rel=1e-9)
    assert 0 < p < 1


def test_delong_known_value():
    # worked by hand: AUC(A) = 7/9, AUC(B) = 8/9
    diff, _, p = delong_test([0, 0, 1, 1, 0, 1], [0.1, 0.4, 0.35, 0.8, 0.2, 0.7], [0.1, 0.2, 0.6, 0.8, 0.3, 0.7])
    assert diff == pytest.approx(1 / 9)
    assert p == pytest.approx(0.4795, abs=1e-3)


def test_delong_agrees_with_a_large_bootstrap():
    y, a, b = _data(n=1500, seed=1)
    diff, (lo, hi), p = delong_test(y, a, b)
    bdiff, (blo, bhi), bp = paired_bootstrap(y, a, b, roc_auc_score, n=1500, random_state=2)
    assert bdiff == pytest.approx(diff)
    assert blo == pytest.approx(lo, abs=0.01) and bhi == pytest.approx(hi, abs=0.01)
    assert (p < 0.05) == (bp < 0.05)


def test_same_scores_are_not_different():
    y, a, _ = _data()
    assert delong_test(y, a, a) == (0.0, (0.0, 0.0), 1.0)
    diff, (lo, hi), p = paired_bootstrap(y, a, a, roc_auc_score, n=50)
    assert diff == 0 and lo == hi == 0 and p == 1


def test_paired_bootstrap_finds_a_clear_difference_and_is_seeded():
    rng = np.random.default_rng(3)
    y = rng.normal(size=300)
    a, b = y + rng.normal(scale=1.0, size=300), y + rng.normal(scale=0.5, size=300)
    first = paired_bootstrap(y, a, b, mean_absolute_error, n=300, random_state=4)
    assert first == paired_bootstrap(y, a, b, mean_absolute_error, n=300, random_state=4)
    diff, (_, hi), p = first
    assert diff < 0 and hi < 0 and p < 0.01


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="same length"):
        delong_test([0, 1], [0.1], [0.2, 0.3])
    with pytest.raises(ValueError, match="both classes"):
        delong_test([1, 1], [0.1, 0.2], [0.2, 0.3])
    with pytest.raises(ValueError, match="n must be"):
        paired_bootstrap([1], [1], [1], mean_absolute_error, n=0)
