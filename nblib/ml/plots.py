"""Figures for the notebooks and reports. Each function returns a matplotlib
``Figure`` built with the object API (no pyplot global state), so it can be
saved, displayed or tested without a screen.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

__all__ = [
    "missing_values",
    "target_distribution",
    "numeric_distributions",
    "rate_by_category",
    "rate_by_month",
    "top_terms",
    "cv_comparison",
    "roc_curves",
    "pr_curve",
    "confusion_matrix_plot",
    "calibration_plot",
    "predicted_vs_actual",
    "residuals_plot",
]

_BLUE, _ORANGE, _GREY = "#1f77b4", "#ff7f0e", "#8c959f"


def _figure(width: float = 6.4, height: float = 4.0, ncols: int = 1, nrows: int = 1):
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def missing_values(frame: pd.DataFrame) -> Figure:
    """Share of missing values per column (columns with none are left out)."""
    share = frame.isna().mean().sort_values()
    share = share[share > 0]
    fig, axes = _figure(6.4, max(1.6, 0.35 * len(share) + 1))
    ax = axes[0, 0]
    if share.empty:
        ax.text(0.5, 0.5, "no missing values", ha="center", va="center")
        ax.set_axis_off()
        return fig
    ax.barh(share.index, share.to_numpy() * 100, color=_BLUE)
    for i, v in enumerate(share.to_numpy()):
        ax.text(v * 100, i, f" {v:.1%}", va="center", fontsize=8)
    ax.set_xlabel("% missing")
    ax.set_title("Missing values")
    return fig


def target_distribution(y: pd.Series, task: str) -> Figure:
    """Class counts (classification) or a histogram (regression)."""
    fig, axes = _figure(5, 3.2)
    ax = axes[0, 0]
    if task == "classification":
        counts = y.value_counts().sort_index()
        bars = ax.bar(counts.index.astype(str), counts.to_numpy(), color=[_GREY, _ORANGE][: len(counts)] or _BLUE)
        for bar, v in zip(bars, counts.to_numpy(), strict=True):
            ax.text(bar.get_x() + bar.get_width() / 2, v, f"{v} ({v / counts.sum():.1%})", ha="center", va="bottom")
        ax.set_ylabel("rows")
    else:
        ax.hist(y.dropna(), bins=50, color=_BLUE)
        ax.set_ylabel("rows")
    ax.set_title(f"Target: {y.name}")
    return fig


def numeric_distributions(frame: pd.DataFrame, columns: list[str], target: pd.Series | None = None,
                          log_scale: bool = True) -> Figure:
    """Histogram per numeric column, split by class when a binary target is given."""
    columns = list(columns)[:9]
    ncols = 3
    nrows = max(1, int(np.ceil(len(columns) / ncols)))
    fig, axes = _figure(10, 2.6 * nrows, ncols=ncols, nrows=nrows)
    for ax, column in zip(axes.ravel(), columns, strict=False):
        x = frame[column].astype(float)
        skewed = log_scale and x.min() >= 0 and x.skew() > 2
        values = np.log10(x.clip(lower=0) + 1) if skewed else x
        if target is not None and target.nunique() == 2:
            for label, color in zip(sorted(target.unique()), (_GREY, _ORANGE), strict=True):
                ax.hist(values[target == label].dropna(), bins=40, alpha=0.6, density=True, color=color,
                        label=str(label))
            ax.legend(title=target.name, fontsize=7)
        else:
            ax.hist(values.dropna(), bins=40, color=_BLUE)
        ax.set_title(f"log10({column} + 1)" if skewed else column, fontsize=9)
    for ax in axes.ravel()[len(columns):]:
        ax.set_axis_off()
    return fig


def rate_by_category(frame: pd.DataFrame, column: str, target: pd.Series, top: int = 15) -> Figure:
    """Mean target per label of ``column`` (most frequent labels), with counts."""
    stats = target.groupby(frame[column].fillna("(missing)")).agg(["mean", "count"])
    stats = stats.sort_values("count", ascending=False).head(top).sort_values("mean")
    fig, axes = _figure(6.4, 0.3 * len(stats) + 1.2)
    ax = axes[0, 0]
    ax.barh(stats.index.astype(str), stats["mean"], color=_BLUE)
    ax.axvline(target.mean(), color=_ORANGE, ls="--", label=f"overall {target.mean():.3f}")
    for i, (m, n) in enumerate(stats.to_numpy()):
        ax.text(m, i, f" n={int(n)}", va="center", fontsize=7)
    ax.set_xlabel(f"mean {target.name}")
    ax.set_title(f"{target.name} by {column}")
    ax.legend(fontsize=8)
    return fig


def rate_by_month(dates: pd.Series, target: pd.Series) -> Figure:
    """Mean target by calendar month: shows seasonality."""
    month = pd.to_datetime(dates, format="mixed", errors="coerce").dt.month
    stats = target.groupby(month).agg(["mean", "count", "sem"])
    fig, axes = _figure(6.4, 3.2)
    ax = axes[0, 0]
    ax.errorbar(stats.index, stats["mean"], yerr=1.96 * stats["sem"], marker="o", color=_BLUE, capsize=3)
    ax.set_xticks(range(1, 13))
    ax.set_xlabel("month")
    ax.set_ylabel(f"mean {target.name}")
    ax.set_title(f"{target.name} by release month (95% CI)")
    return fig


def top_terms(terms: pd.Series, title: str = "Top TF-IDF terms (training data)") -> Figure:
    """Horizontal bars of term weights (e.g. mean TF-IDF or correlation with the target)."""
    terms = terms.sort_values()
    fig, axes = _figure(6.4, 0.25 * len(terms) + 1.2)
    ax = axes[0, 0]
    ax.barh(terms.index.astype(str), terms.to_numpy(), color=np.where(terms.to_numpy() >= 0, _BLUE, _ORANGE))
    ax.axvline(0, color="black", lw=0.8)
    ax.set_title(title)
    return fig


def cv_comparison(cv: dict[str, Any]) -> Figure:
    """Per-fold CV scores of each model family; the best is highlighted."""
    models = cv["models"]
    names = sorted(models, key=lambda n: models[n]["mean"])
    fig, axes = _figure(6.4, 0.6 * len(names) + 1.4)
    ax = axes[0, 0]
    for i, name in enumerate(names):
        scores = models[name]["scores"]
        color = _ORANGE if name == cv.get("best_model") else _BLUE
        ax.scatter(scores, [i] * len(scores), color=color, alpha=0.6)
        ax.errorbar(models[name]["mean"], i, xerr=models[name]["std"], fmt="D", color=color, capsize=4)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel(cv.get("scoring", "score"))
    ax.set_title(f"{cv.get('folds', '?')}-fold cross-validation (◆ mean ± std)")
    return fig


def roc_curves(y_true, proba, oracle_proba=None) -> Figure:
    """ROC of the model, and of the oracle (true probabilities) when known."""
    fig, axes = _figure(4.6, 4.2)
    ax = axes[0, 0]
    from sklearn.metrics import roc_auc_score

    fpr, tpr, _ = roc_curve(y_true, proba)
    ax.plot(fpr, tpr, color=_BLUE, label=f"model (AUC {roc_auc_score(y_true, proba):.3f})")
    if oracle_proba is not None:
        fpr, tpr, _ = roc_curve(y_true, oracle_proba)
        ax.plot(fpr, tpr, color=_ORANGE, ls="--", label=f"oracle (AUC {roc_auc_score(y_true, oracle_proba):.3f})")
    ax.plot([0, 1], [0, 1], color=_GREY, lw=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC curve (test)")
    ax.legend(loc="lower right")
    return fig


def pr_curve(y_true, proba, oracle_proba=None) -> Figure:
    """Precision–recall curve with the positive rate as the no-skill line."""
    from sklearn.metrics import average_precision_score

    fig, axes = _figure(4.6, 4.2)
    ax = axes[0, 0]
    p, r, _ = precision_recall_curve(y_true, proba)
    ax.plot(r, p, color=_BLUE, label=f"model (AP {average_precision_score(y_true, proba):.3f})")
    if oracle_proba is not None:
        p, r, _ = precision_recall_curve(y_true, oracle_proba)
        ax.plot(r, p, color=_ORANGE, ls="--",
                label=f"oracle (AP {average_precision_score(y_true, oracle_proba):.3f})")
    ax.axhline(np.mean(y_true), color=_GREY, lw=0.8, label=f"no skill ({np.mean(y_true):.3f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("Precision–recall curve (test)")
    ax.legend(loc="upper right")
    return fig


def confusion_matrix_plot(matrix, labels=("0", "1"), threshold: float = 0.5) -> Figure:
    """Counts and row shares of a confusion matrix."""
    matrix = np.asarray(matrix)
    fig, axes = _figure(4.2, 3.6)
    ax = axes[0, 0]
    ax.imshow(matrix, cmap="Blues")
    shares = matrix / matrix.sum(axis=1, keepdims=True)
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, f"{v}\n{shares[i, j]:.1%}", ha="center", va="center",
                color="white" if v > matrix.max() / 2 else "black")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(f"Confusion matrix (threshold {threshold})")
    return fig


def calibration_plot(y_true, proba, n_bins: int = 10) -> Figure:
    """Reliability diagram: mean predicted probability vs observed rate per quantile bin."""
    from sklearn.calibration import calibration_curve

    frac, mean_pred = calibration_curve(y_true, proba, n_bins=n_bins, strategy="quantile")
    fig, axes = _figure(4.6, 4.2)
    ax = axes[0, 0]
    ax.plot([0, 1], [0, 1], color=_GREY, lw=0.8)
    ax.plot(mean_pred, frac, marker="o", color=_BLUE)
    top = max(mean_pred.max(), frac.max()) * 1.1
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed rate")
    ax.set_title("Calibration (test)")
    return fig


def predicted_vs_actual(y_true, pred) -> Figure:
    fig, axes = _figure(4.6, 4.2)
    ax = axes[0, 0]
    ax.scatter(y_true, pred, s=4, alpha=0.3, color=_BLUE)
    lo, hi = float(np.min(y_true)), float(np.max(y_true))
    ax.plot([lo, hi], [lo, hi], color=_ORANGE, lw=1)
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    ax.set_title("Predicted vs actual (test)")
    return fig


def residuals_plot(y_true, pred) -> Figure:
    resid = np.asarray(y_true) - np.asarray(pred)
    fig, axes = _figure(8, 3.4, ncols=2)
    axes[0, 0].scatter(pred, resid, s=4, alpha=0.3, color=_BLUE)
    axes[0, 0].axhline(0, color=_ORANGE)
    axes[0, 0].set_xlabel("predicted")
    axes[0, 0].set_ylabel("actual − predicted")
    axes[0, 0].set_title("Residuals vs prediction")
    axes[0, 1].hist(resid, bins="auto" if np.ptp(resid) > 1e-9 * (1 + np.abs(resid).max()) else 1, color=_BLUE)
    axes[0, 1].set_title("Residual distribution")
    return fig
