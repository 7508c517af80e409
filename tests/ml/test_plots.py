"""Every plot function returns a drawable Figure (a sweep over nblib.ml.evaluation.plots)."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from nblib.ml.evaluation import explain, plots

rng = np.random.default_rng(0)
y = pd.Series(rng.integers(0, 2, 200), name="is_hit")
proba = np.clip(y * 0.3 + rng.random(200) * 0.7, 0, 1)
frame = pd.DataFrame(
    {
        "a": rng.random(200),
        "b": np.exp(rng.normal(0, 2, 200)),
        "c": rng.choice(list("xyz"), 200),
        "d": pd.date_range("2020-01-01", periods=200, freq="7D"),
    }
)
frame.loc[::7, "a"] = np.nan
cv = {
    "scoring": "roc_auc",
    "folds": 3,
    "best_model": "m1",
    "models": {
        "m1": {"mean": 0.8, "std": 0.01, "scores": [0.79, 0.8, 0.81]},
        "m2": {"mean": 0.7, "std": 0.02, "scores": [0.68, 0.7, 0.72]},
    },
}

y3 = pd.Series(rng.integers(0, 3, 200))
proba3 = rng.dirichlet([1, 1, 1], 200)
hostile = pd.DataFrame({r"$\badmacro$": rng.random(20), "x" * 300: rng.random(20)})

CASES = {
    "missing_values": lambda: plots.missing_values(frame),
    "missing_values_none": lambda: plots.missing_values(frame[["c"]]),
    "target_classification": lambda: plots.target_distribution(y, "classification"),
    "target_regression": lambda: plots.target_distribution(pd.Series(rng.random(50), name="r"), "regression"),
    "numeric_distributions": lambda: plots.numeric_distributions(frame, ["a", "b"], y),
    "rate_by_category": lambda: plots.rate_by_category(frame, "c", y),
    "rate_by_month": lambda: plots.rate_by_month(frame["d"], y),
    "top_terms": lambda: plots.top_terms(pd.Series({"good": 0.1, "bad": -0.2})),
    "cv_comparison": lambda: plots.cv_comparison(cv),
    "roc_curves": lambda: plots.roc_curves(y, proba, proba**0.5),
    "pr_curve": lambda: plots.pr_curve(y, proba, None),
    "confusion_matrix": lambda: plots.confusion_matrix_plot([[50, 10], [5, 20]]),
    "calibration": lambda: plots.calibration_plot(y, proba),
    "predicted_vs_actual": lambda: plots.predicted_vs_actual(proba, proba + 0.1),
    "residuals": lambda: plots.residuals_plot(proba, proba + 0.1),
    "roc_curves_multiclass": lambda: plots.roc_curves(y3, proba3, classes=["a", "b$", "c"]),
    "confusion_matrix_multiclass": lambda: plots.confusion_matrix_plot(np.eye(3, dtype=int) * 5, ["a", "b", "c"], None),
    "leak_evidence": lambda: plots.leak_evidence(
        pd.DataFrame({"permutation": [0.3, 0.01], "score_alone": [0.9, 0.6]}, index=["x", "y"]), ["x"]
    ),
    "hostile_names": lambda: plots.numeric_distributions(hostile, hostile.columns, None),
    "importance_bars": lambda: plots.importance_bars(
        pd.DataFrame({"mean": [0.1, 0.0], "std": [0.01, 0.02]}, index=["a$", "b"])
    ),
    "partial_dependence_grid": lambda: plots.partial_dependence_grid(
        [{"column": "a", "grid": [0, 1], "average": [[0.1, 0.2]], "outputs": ["prediction"]}]
    ),
    "slice_metric_plot": lambda: plots.slice_metric_plot(
        pd.DataFrame(
            {
                "slice": ["c"] * 2,
                "segment": ["x", "y|<s>"],
                "n": [50, 3],
                "roc_auc": [0.8, np.nan],
                "roc_auc_low": [0.7, np.nan],
                "roc_auc_high": [0.9, np.nan],
                "note": ["", "too few rows"],
            }
        ),
        "roc_auc",
    ),
    "gain_curve": lambda: plots.gain_curve(explain.lift_table(y, proba)),
}


def test_every_public_plot_is_covered():
    covered = {
        name.split("_none")[0].split("_classification")[0].split("_regression")[0].split("_multiclass")[0]
        for name in CASES
    }
    aliases = {
        "target": "target_distribution",
        "confusion_matrix": "confusion_matrix_plot",
        "calibration": "calibration_plot",
        "residuals": "residuals_plot",
    }
    covered = {aliases.get(c, c) for c in covered}
    # the ``*_figures`` functions return {name: Figure} of the plots above (tests/ml/test_evaluation_views.py)
    assert {n for n in plots.__all__ if not n.endswith("_figures")} - {"label"} <= covered


@pytest.mark.parametrize("name", sorted(CASES))
def test_plot_draws(name, tmp_path):
    fig = CASES[name]()
    assert isinstance(fig, Figure) and fig.axes
    fig.savefig(tmp_path / f"{name}.png")
    assert (tmp_path / f"{name}.png").stat().st_size > 1000
