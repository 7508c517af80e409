"""Figures for the notebooks and reports. Each function returns a matplotlib
``Figure`` built with the object API (no pyplot global state), so it can be
saved, displayed or tested without a screen.

Column names and labels come from the user's data: every one goes through
:func:`label` (dollar signs escaped so matplotlib does not read math text,
long names shortened). A plot that shows part of the data says so ("9 of 30").
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
    "leak_evidence",
    "importance_bars",
    "partial_dependence_grid",
    "slice_metric_plot",
    "gain_curve",
    "label",
    "evaluation_figures",
    "term_figures",
    "target_rate_figures",
    "slice_figures",
    "partial_dependence_figures",
    "gain_figures",
]

_BLUE, _ORANGE, _GREY = "#1f77b4", "#ff7f0e", "#8c959f"


def label(value: Any, limit: int = 40) -> str:
    r"""A name from data as safe plot text: ``$`` escaped (no math text), cut to ``limit`` characters.

    >>> label(r"$\badmacro$ price")
    '\\$\\badmacro\\$ price'
    """
    text = " ".join(str(value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def _labels(values) -> list[str]:
    return [label(v) for v in values]


def _figure(width: float = 6.4, height: float = 4.0, ncols: int = 1, nrows: int = 1):
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def missing_values(frame: pd.DataFrame) -> Figure:
    """Share of missing values per column (columns with none are left out)."""
    share = frame.isna().mean().sort_values()
    share = share[share > 0]
    total = len(share)
    share = share.tail(30)
    fig, axes = _figure(6.4, max(1.6, 0.3 * len(share) + 1))
    ax = axes[0, 0]
    if share.empty:
        ax.text(0.5, 0.5, "no missing values", ha="center", va="center")
        ax.set_axis_off()
        return fig
    ax.barh(range(len(share)), share.to_numpy() * 100, color=_BLUE)
    ax.set_yticks(range(len(share)), _labels(share.index))
    for i, v in enumerate(share.to_numpy()):
        ax.text(v * 100, i, f" {v:.1%}", va="center", fontsize=8)
    ax.set_xlabel("% missing")
    ax.set_title(
        "Missing values"
        + (
            f" (the {len(share)} most missing of {total} columns)"
            if total > len(share)
            else f" ({total} of {frame.shape[1]} columns have some)"
        )
    )
    return fig


def target_distribution(y: pd.Series, task: str) -> Figure:
    """Class counts (classification) or a histogram (regression)."""
    fig, axes = _figure(5, 3.2)
    ax = axes[0, 0]
    if task == "classification":
        counts = y.value_counts()
        total = len(counts)
        counts = counts.head(20).sort_index(key=lambda index: index.astype(str))
        colors = [_GREY, _ORANGE] if len(counts) == 2 else _BLUE
        bars = ax.bar(range(len(counts)), counts.to_numpy(), color=colors)
        ax.set_xticks(range(len(counts)), _labels(counts.index), rotation=30 if len(counts) > 4 else 0)
        for bar, v in zip(bars, counts.to_numpy(), strict=True):
            ax.text(bar.get_x() + bar.get_width() / 2, v, f"{v} ({v / counts.sum():.1%})", ha="center", va="bottom")
        ax.set_ylabel("rows")
    else:
        ax.hist(y.dropna(), bins=50, color=_BLUE)
        ax.set_ylabel("rows")
    shown = f" (20 most frequent of {total} classes)" if task == "classification" and total > 20 else ""
    ax.set_title(f"Target: {label(y.name)}{shown}")
    return fig


def numeric_distributions(
    frame: pd.DataFrame, columns: list[str], target: pd.Series | None = None, log_scale: bool = True
) -> Figure:
    """Histogram per numeric column (the first 9), split by class when a binary target is given."""
    total = len(list(columns))
    columns = list(columns)[:9]
    ncols = 3
    nrows = max(1, int(np.ceil(len(columns) / ncols)))
    fig, axes = _figure(10, 2.6 * nrows, ncols=ncols, nrows=nrows)
    for ax, column in zip(axes.ravel(), columns, strict=False):
        x = frame[column].astype(float)
        skewed = log_scale and x.min() >= 0 and x.skew() > 2
        values = np.log10(x.clip(lower=0) + 1) if skewed else x
        if target is not None and target.nunique() == 2:
            for value, color in zip(sorted(target.unique()), (_GREY, _ORANGE), strict=True):
                ax.hist(
                    values[target == value].dropna(),
                    bins=40,
                    alpha=0.6,
                    density=True,
                    color=color,
                    label=label(value, 20),
                )
            ax.legend(title=label(target.name), fontsize=7)
        else:
            ax.hist(values.dropna(), bins=40, color=_BLUE)
        ax.set_title(f"log10({label(column)} + 1)" if skewed else label(column), fontsize=9)
    for ax in axes.ravel()[len(columns) :]:
        ax.set_axis_off()
    if total > len(columns):
        fig.suptitle(f"{len(columns)} of {total} numeric columns", fontsize=10)
    return fig


def rate_by_category(frame: pd.DataFrame, column: str, target: pd.Series, top: int = 15) -> Figure:
    """Mean target per label of ``column`` (most frequent labels), with counts."""
    stats = target.groupby(frame[column].astype(object).fillna("(missing)")).agg(["mean", "count"])
    total = len(stats)
    stats = stats.sort_values("count", ascending=False).head(top).sort_values("mean")
    fig, axes = _figure(6.4, 0.3 * len(stats) + 1.2)
    ax = axes[0, 0]
    ax.barh(range(len(stats)), stats["mean"], color=_BLUE)
    ax.set_yticks(range(len(stats)), _labels(stats.index))
    ax.axvline(target.mean(), color=_ORANGE, ls="--", label=f"overall {target.mean():.3f}")
    for i, (m, n) in enumerate(stats.to_numpy()):
        ax.text(m, i, f" n={int(n)}", va="center", fontsize=7)
    ax.set_xlabel(f"mean {label(target.name)}")
    shown = f" ({len(stats)} most frequent of {total} labels)" if total > len(stats) else ""
    ax.set_title(f"{label(target.name)} by {label(column)}{shown}")
    ax.legend(fontsize=8)
    return fig


def rate_by_month(dates: pd.Series, target: pd.Series) -> Figure:
    """Mean target by calendar month of a date column: shows seasonality."""
    month = (
        dates if pd.api.types.is_datetime64_any_dtype(dates) else pd.to_datetime(dates, format="mixed", errors="coerce")
    ).dt.month
    stats = target.groupby(month).agg(["mean", "count", "sem"])
    fig, axes = _figure(6.4, 3.2)
    ax = axes[0, 0]
    ax.errorbar(stats.index, stats["mean"], yerr=1.96 * stats["sem"], marker="o", color=_BLUE, capsize=3)
    ax.set_xticks(range(1, 13))
    ax.set_xlabel("month")
    ax.set_ylabel(f"mean {label(target.name)}")
    ax.set_title(f"{label(target.name)} by month of {label(dates.name)} (95% CI)")
    return fig


def top_terms(terms: pd.Series, title: str = "Top TF-IDF terms (training data)") -> Figure:
    """Horizontal bars of term weights (e.g. mean TF-IDF or correlation with the target)."""
    terms = terms.sort_values()
    fig, axes = _figure(6.4, 0.25 * len(terms) + 1.2)
    ax = axes[0, 0]
    ax.barh(range(len(terms)), terms.to_numpy(), color=np.where(terms.to_numpy() >= 0, _BLUE, _ORANGE))
    ax.set_yticks(range(len(terms)), _labels(terms.index))
    ax.axvline(0, color="black", lw=0.8)
    ax.set_title(label(title, 80))
    return fig


def cv_comparison(cv: dict[str, Any]) -> Figure:
    """Per-fold CV scores of each model family; the best is highlighted. Scores are the metric
    itself (RMSE positive), as every page shows them."""
    from nblib.ml.evaluation.scoring import lower_is_better, shown_cv

    cv = shown_cv(cv)
    models = cv["models"]
    worse_first = -1.0 if lower_is_better(cv.get("scoring")) else 1.0  # the best at the top
    names = sorted(models, key=lambda n: worse_first * models[n]["mean"])
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


def roc_curves(y_true, proba, oracle_proba=None, classes=None) -> Figure:
    """ROC of the model, and of the oracle (true probabilities) when known.

    With a probability matrix (three or more classes), one one-vs-rest curve per class (at most 10).
    """
    fig, axes = _figure(4.6, 4.2)
    ax = axes[0, 0]
    from sklearn.metrics import roc_auc_score

    proba = np.asarray(proba, dtype=float)
    if proba.ndim == 2:
        y_true = np.asarray(y_true).astype(int)
        names = classes if classes is not None else list(range(proba.shape[1]))
        shown = [c for c in range(proba.shape[1]) if 0 < (y_true == c).sum() < len(y_true)][:10]
        for c in shown:
            fpr, tpr, _ = roc_curve(y_true == c, proba[:, c])
            ax.plot(
                fpr, tpr, lw=1.2, label=f"{label(names[c], 20)} (AUC {roc_auc_score(y_true == c, proba[:, c]):.3f})"
            )
        ax.plot([0, 1], [0, 1], color=_GREY, lw=0.8)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        more = f", {len(shown)} of {proba.shape[1]} classes" if len(shown) < proba.shape[1] else ""
        ax.set_title(f"ROC one-vs-rest (test{more})")
        ax.legend(loc="lower right", fontsize=7)
        return fig

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
    """Precision–recall curve of the positive class, with the positive rate as the no-skill line."""
    from sklearn.metrics import average_precision_score

    fig, axes = _figure(4.6, 4.2)
    ax = axes[0, 0]
    p, r, _ = precision_recall_curve(y_true, proba)
    ax.plot(r, p, color=_BLUE, label=f"model (AP {average_precision_score(y_true, proba):.3f})")
    if oracle_proba is not None:
        p, r, _ = precision_recall_curve(y_true, oracle_proba)
        ax.plot(r, p, color=_ORANGE, ls="--", label=f"oracle (AP {average_precision_score(y_true, oracle_proba):.3f})")
    ax.axhline(np.mean(y_true), color=_GREY, lw=0.8, label=f"no skill ({np.mean(y_true):.3f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("Precision–recall curve (test)")
    ax.legend(loc="upper right")
    return fig


def confusion_matrix_plot(matrix, labels=("0", "1"), threshold: float = 0.5) -> Figure:
    """Counts and row shares of a confusion matrix."""
    matrix = np.asarray(matrix)
    size = max(4.2, 0.6 * len(matrix) + 2)
    fig, axes = _figure(size, size * 0.85)
    ax = axes[0, 0]
    ax.imshow(matrix, cmap="Blues")
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(
            j,
            i,
            f"{v}\n{shares[i, j]:.1%}",
            ha="center",
            va="center",
            color="white" if v > matrix.max() / 2 else "black",
        )
    ax.set_xticks(range(len(labels)), _labels(labels), rotation=30 if len(labels) > 3 else 0)
    ax.set_yticks(range(len(labels)), _labels(labels))
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(
        f"Confusion matrix (threshold {float(threshold):.3f})"
        if threshold is not None and len(labels) == 2
        else "Confusion matrix (most probable class)"
    )
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


def leak_evidence(columns: pd.DataFrame, suspects: list[str] = (), top: int = 15) -> Figure:
    """How much a quick model's CV score falls when each column is shuffled, suspects in orange.

    ``columns`` is :attr:`nblib.ml.data.leaks.LeakReport.columns` (index: column, with
    ``permutation`` and ``score_alone``).
    """
    table = columns.sort_values("permutation", ascending=False).head(top).iloc[::-1]
    fig, axes = _figure(6.4, 0.32 * max(len(table), 1) + 1.4)
    ax = axes[0, 0]
    if table.empty:
        ax.text(0.5, 0.5, "no feature columns to check", ha="center", va="center")
        ax.set_axis_off()
        return fig
    colors = [_ORANGE if c in set(suspects) else _BLUE for c in table.index]
    ax.barh(range(len(table)), table["permutation"].to_numpy(), color=colors)
    ax.set_yticks(range(len(table)), _labels(table.index))
    for i, alone in enumerate(table["score_alone"].to_numpy()):
        ax.text(max(table["permutation"].max(), 0) * 0.01, i, f" alone {alone:.2f}", va="center", fontsize=7)
    ax.set_xlabel("fall in CV score when the column is shuffled")
    shown = f" ({len(table)} of {len(columns)} columns)" if len(columns) > len(table) else ""
    ax.set_title(f"What a quick model leans on{shown}; leak suspects in orange", fontsize=9)
    return fig


def importance_bars(importance: pd.DataFrame) -> Figure:
    """Permutation importance of raw columns: mean score drop with ± std error bars (largest on top)."""
    shown = importance.iloc[::-1]
    fig, axes = _figure(6.4, max(1.8, 0.3 * len(shown) + 1.2))
    ax = axes[0, 0]
    attrs = importance.attrs
    if shown.empty:
        ax.text(0.5, 0.5, "importance not computed", ha="center", va="center")
        ax.set_axis_off()
        return fig
    colors = [_BLUE if v > 0 else _GREY for v in shown["mean"]]
    ax.barh(range(len(shown)), shown["mean"], xerr=shown["std"], color=colors, capsize=3)
    ax.set_yticks(range(len(shown)), _labels(shown.index))
    ax.axvline(0, color=_GREY, lw=0.8)
    ax.set_xlabel(f"drop in test {attrs.get('scoring', 'score')} when the column is shuffled")
    of = attrs.get("n_columns")
    part = f"top {len(shown)} of {of} columns, " if of and of > len(shown) else ""
    ax.set_title(
        f"Permutation importance ({part}{attrs.get('n_rows', '?')} test rows, {attrs.get('n_repeats', '?')} repeats)",
        fontsize=10,
    )
    return fig


def partial_dependence_grid(curves: list[dict[str, Any]], ylabel: str = "average prediction") -> Figure:
    """Partial dependence small multiples: one panel per column, one line per output."""
    ncols = min(3, max(1, len(curves)))
    nrows = max(1, int(np.ceil(len(curves) / ncols)))
    fig, axes = _figure(3.4 * ncols, 2.8 * nrows, ncols=ncols, nrows=nrows)
    for ax in axes.ravel()[len(curves) :]:
        ax.set_axis_off()
    if not curves:
        axes[0, 0].text(0.5, 0.5, "no numeric column to show", ha="center", va="center")
        return fig
    for ax, curve in zip(axes.ravel(), curves, strict=False):
        for values, name in zip(curve["average"][:10], curve["outputs"], strict=False):
            ax.plot(curve["grid"], values, lw=1.5, label=label(name, 20))
        ax.set_xlabel(label(curve["column"], 30))
        if len(curve["average"]) > 1:
            ax.legend(fontsize=6)
    axes[0, 0].set_ylabel(ylabel)
    fig.suptitle("Partial dependence on the test rows (5th–95th percentile)", fontsize=10)
    return fig


def slice_metric_plot(table: pd.DataFrame, metric: str) -> Figure:
    """One slice column's segments: ``metric`` with its interval; segments without a value say why."""
    fig, axes = _figure(6.4, max(1.8, 0.35 * len(table) + 1.2))
    ax = axes[0, 0]
    rows = table.iloc[::-1].reset_index(drop=True)
    names = [f"{label(s, 30)} (n={n})" for s, n in zip(rows["segment"], rows["n"], strict=True)]
    for i, row in rows.iterrows():
        if np.isnan(row[metric]):
            ax.text(
                0.02,
                i,
                label(row.get("note", "no value"), 60),
                transform=ax.get_yaxis_transform(),
                va="center",
                fontsize=8,
                color=_GREY,
            )
            continue
        low, high = row[f"{metric}_low"], row[f"{metric}_high"]
        err = None if np.isnan(low) else [[row[metric] - low], [high - row[metric]]]
        ax.errorbar(row[metric], i, xerr=err, fmt="o", color=_BLUE, capsize=3)
    ax.set_yticks(range(len(rows)), names)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel(f"test {metric} (bootstrap interval)")
    column = label(table["slice"].iloc[0]) if len(table) else ""
    ax.set_title(f"{metric} by {column}")
    return fig


def gain_curve(lift: pd.DataFrame) -> Figure:
    """Cumulative gain: share of positives captured against share of rows, highest scores first,
    with the random baseline and the perfect model."""
    fig, axes = _figure(4.6, 4.2)
    ax = axes[0, 0]
    x = np.r_[0, lift["share_rows"].to_numpy()]
    ax.plot(x, np.r_[0, lift["share_positives"].to_numpy()], "o-", color=_BLUE, label="model")
    rate = lift["positives"].sum() / max(lift["rows"].sum(), 1)
    ax.plot([0, rate, 1], [0, 1, 1], color=_ORANGE, ls="--", label="perfect")
    ax.plot([0, 1], [0, 1], color=_GREY, lw=0.8, label="random")
    ax.set_xlabel("share of test rows (highest scores first)")
    ax.set_ylabel("share of positives captured")
    ax.set_title("Cumulative gain (test)")
    ax.legend(loc="lower right")
    return fig


# --------------------------------------------------------------------------- what a notebook shows
# Each returns ``{name: Figure}``: the name is the figure's file (``figures/<stage>/<name>.png``);
# a figure that does not apply is left out, so a notebook shows the dict without branching.


def evaluation_figures(
    task: str,
    y_true,
    scores,
    *,
    classes: list[Any] | None = None,
    oracle_proba=None,
    confusion=None,
    threshold: float | None = None,
) -> dict[str, Figure]:
    """The test-split plots for ``task``.

    Classification: ``roc`` (with the oracle's curve when ``oracle_proba`` is known) and
    ``confusion_matrix`` (of ``confusion`` at ``threshold``), and for two classes ``pr`` and
    ``calibration``. Regression: ``predicted_vs_actual`` and ``residuals``.
    """
    if task != "classification":
        return {"predicted_vs_actual": predicted_vs_actual(y_true, scores), "residuals": residuals_plot(y_true, scores)}
    figures = {"roc": roc_curves(y_true, scores, oracle_proba, classes)}
    if confusion is not None:
        figures["confusion_matrix"] = confusion_matrix_plot(confusion, classes, threshold)
    if classes is not None and len(classes) == 2:
        figures["pr"] = pr_curve(y_true, scores, oracle_proba)
        figures["calibration"] = calibration_plot(y_true, scores)
    return figures


def term_figures(fitted, Xt, y, text_columns: list[str], positive_class: Any = None) -> dict[str, Figure]:
    """``terms_<column>`` per text column: the terms whose mean TF-IDF differs most between the
    positive class and the rest (:func:`nblib.ml.features.term_associations`); none without a
    positive class (regression, three or more classes)."""
    from nblib.ml.features import term_associations

    if positive_class is None:
        return {}
    return {
        f"terms_{column}": top_terms(
            term_associations(fitted, Xt, y, column), f"Terms of {column} by class (training data)"
        )
        for column in text_columns
    }


def target_rate_figures(
    frame: pd.DataFrame, rate: pd.Series, *, dates: list[str] = (), categories: list[str] = (), max_categories: int = 3
) -> dict[str, Figure]:
    """``by_month_<column>`` per date column and ``by_<column>`` for the first ``max_categories``
    categorical columns: the mean of ``rate`` (:func:`nblib.ml.features.target_rate`) per month or label."""
    figures = {f"by_month_{column}": rate_by_month(frame[column], rate) for column in dates}
    shown = list(categories)[:max_categories]
    figures.update({f"by_{column}": rate_by_category(frame, column, rate) for column in shown})
    return figures


def slice_figures(slices: list[pd.DataFrame], task: str) -> dict[str, Figure]:
    """``slice_<column>`` per slice table (:func:`nblib.ml.evaluation.explain.slice_tables`), showing
    the task's primary slice metric."""
    from nblib.ml.evaluation.explain import SLICE_METRICS

    return {f"slice_{table['slice'].iloc[0]}": slice_metric_plot(table, SLICE_METRICS[task][0]) for table in slices}


def partial_dependence_figures(curves: list[dict[str, Any]]) -> dict[str, Figure]:
    """``{"partial_dependence": ...}`` when there is a curve, else nothing."""
    return {"partial_dependence": partial_dependence_grid(curves)} if curves else {}


def gain_figures(lift: pd.DataFrame | None) -> dict[str, Figure]:
    """``{"gain": ...}``: the cumulative gain curve of a lift table (two classes), else nothing."""
    return {} if lift is None else {"gain": gain_curve(lift)}
