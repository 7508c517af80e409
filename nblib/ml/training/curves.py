"""Curves of training: per iteration (boosting rounds, epochs) and against training-set size.

:func:`iteration_curves` reads what an iterative model recorded while it was fitted —
HistGradientBoosting's ``train_score_`` / ``validation_score_``, GradientBoosting's
``train_score_``, the MLP's ``history_`` — into one frame; :func:`learning_curve_frame`
cross-validates a pipeline on growing shares of the training rows. Each has a plot that
returns a matplotlib ``Figure`` (object API, no pyplot).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.base import is_classifier
from sklearn.model_selection import check_cv, learning_curve

from nblib.ml.evaluation.plots import label

__all__ = ["CURVE_COLUMNS", "iteration_curves", "learning_curve_frame", "plot_iteration_curves", "plot_learning_curve"]

#: Columns of :func:`iteration_curves`' frame, one row per model and iteration.
CURVE_COLUMNS = (
    "model",
    "unit",
    "iteration",
    "train_loss",
    "valid_loss",
    "train_score",
    "valid_score",
    "metric",
    "lr",
    "dur",
    "kept",
)

_BLUE, _ORANGE, _GREY = "#1f77b4", "#ff7f0e", "#8c959f"
_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def iteration_curves(model: Any, name: str | None = None) -> pd.DataFrame | None:
    """The per-iteration training and validation curves of a fitted model; None if it recorded none.

    The model may be a Pipeline (its last step is read), a wrapper with a fitted ``estimator_``
    (FixedThresholdClassifier, TunedThresholdClassifierCV) or an ensemble with
    ``named_estimators_`` (Voting*, Stacking*: one set of curves per member that has them).

    Parameters
    ----------
    model : fitted estimator
    name : str, optional
        The name in the ``model`` column; by default the estimator's class name (a member's
        name inside an ensemble).

    Returns
    -------
    DataFrame or None
        Columns :data:`CURVE_COLUMNS`: ``unit`` is ``"iteration"`` (boosting; 0 is the model
        before the first round) or ``"epoch"`` (MLP); losses are the model's own (log loss,
        half squared error, or the MLP's loss on its standardised target); ``metric`` names
        the score columns; ``kept`` marks the iteration whose model is used (the last for
        boosting, the best validation epoch for the MLP). Missing values are NaN.
    """
    frames = [frame for member, estimator in _members(model, name) if (frame := _curves(estimator, member)) is not None]
    if not frames:
        return None
    return pd.concat(frames, ignore_index=True)[list(CURVE_COLUMNS)]


def plot_iteration_curves(curves: pd.DataFrame | None, title: str = "Training curves") -> Figure:
    """Loss per iteration (training solid, validation dashed) and the validation score beside it.

    The iteration whose model is kept is marked with a dotted line.
    """
    has_score = curves is not None and curves[["train_score", "valid_score"]].notna().any().any()
    fig = Figure(figsize=(10 if has_score else 6.4, 3.8), layout="constrained")
    axes = fig.subplots(1, 2 if has_score else 1, squeeze=False)[0]
    if curves is None or curves.empty:
        axes[0].text(0.5, 0.5, "no per-iteration curves for this model", ha="center", va="center")
        axes[0].set_axis_off()
        return fig
    unit = " / ".join(curves["unit"].unique())
    for i, (model, frame) in enumerate(curves.groupby("model", sort=False)):
        color = _COLORS[i % len(_COLORS)]
        x = frame["iteration"].to_numpy()
        for column, style in (("train_loss", "-"), ("valid_loss", "--")):
            if frame[column].notna().any():
                axes[0].plot(x, frame[column], ls=style, color=color, label=f"{label(model, 30)} {column[:5]}")
        if has_score:
            metric = label(frame["metric"].iloc[0] or "score", 20)
            for column, style in (("train_score", "-"), ("valid_score", "--")):
                if frame[column].notna().any():
                    axes[1].plot(
                        x, frame[column], ls=style, color=color, label=f"{label(model, 30)} {column[:5]} {metric}"
                    )
        scored = frame[["train_score", "valid_score"]].notna().any().any()
        for ax in axes[: 2 if scored else 1]:
            for kept in frame.loc[frame["kept"], "iteration"]:
                ax.axvline(kept, color=color, ls=":", lw=1)
    axes[0].set_ylabel("loss")
    axes[0].set_title("Loss (dotted line: the kept model)", fontsize=10)
    if has_score:
        axes[1].set_ylabel(" / ".join(label(m, 20) for m in curves["metric"].unique() if m) or "score")
        axes[1].set_title("Score", fontsize=10)
    for ax in axes:
        ax.set_xlabel(unit)
        ax.legend(fontsize=7)
    fig.suptitle(label(title, 80))
    return fig


def learning_curve_frame(
    pipeline: Any,
    X,
    y,
    *,
    cv: Any,
    scoring: str,
    groups=None,
    train_sizes: Sequence[float] = (0.2, 0.5, 1.0),
    n_jobs: int | None = None,
    random_state: int = 0,
    full_fits: Mapping[str, Sequence[float]] | None = None,
) -> pd.DataFrame:
    """Cross-validated training and validation scores of ``pipeline`` on growing shares of the rows.

    Every fold fits a fresh clone on the first ``train_sizes`` share of its (shuffled)
    training part and scores it on that part and on the fold's held-out rows. A fit that
    fails (one class left in a small share) scores NaN.

    Parameters
    ----------
    pipeline : estimator
        Cloned for every fit.
    X, y : training rows and target
    cv : int, cross-validation splitter or iterable of (train, test) indices
    scoring : str
        A scikit-learn scorer name; ``neg_*`` scorers are reported without the sign and the
        prefix (``neg_root_mean_squared_error`` → ``root_mean_squared_error``, lower is better).
    groups : array-like, optional
        For group-aware splitters.
    train_sizes : sequence of float, default=(0.2, 0.5, 1.0)
        Shares of each fold's training part.
    n_jobs : int, optional
    random_state : int, default=0
        Seeds the shuffle before the shares are taken.
    full_fits : mapping, optional
        ``train_score``, ``valid_score`` and ``fit_seconds`` per fold of ``cv`` of fits of ``pipeline`` on
        each whole training part that were already made (a cross-validation on the same folds, scorer
        values as ``scoring`` gives them): the share 1.0 is read from them, not refit.

    Returns
    -------
    DataFrame
        One row per training size and fold: ``train_size`` (rows), ``fraction`` (of a fold's
        training part), ``fold``,
        ``train_score``, ``valid_score``, ``fit_seconds``, ``metric``.
    """
    folds = list(check_cv(cv, y, classifier=is_classifier(pipeline)).split(X, y, groups))
    shares = [float(share) for share in train_sizes]
    reuse = full_fits is not None and 1.0 in shares and len(shares) > 1  # the whole share is read, not fitted
    if reuse:
        shares = [share for share in shares if share < 1.0]
    sizes, train, valid, fit_times, _ = learning_curve(
        pipeline,
        X,
        y,
        groups=groups,
        train_sizes=np.asarray(shares, dtype=float),
        cv=folds,
        scoring=scoring,
        n_jobs=n_jobs,
        shuffle=True,
        random_state=random_state,
        return_times=True,
    )
    if reuse:
        n_folds = len(folds)
        sizes = np.append(sizes, len(folds[0][0]))
        train = np.vstack([train, np.asarray(full_fits["train_score"][:n_folds], dtype=float)])
        valid = np.vstack([valid, np.asarray(full_fits["valid_score"][:n_folds], dtype=float)])
        fit_times = np.vstack([fit_times, np.asarray(full_fits["fit_seconds"][:n_folds], dtype=float)])
    sign, metric = (-1.0, scoring[4:]) if scoring.startswith("neg_") else (1.0, scoring)
    n_sizes, n_folds = train.shape
    return pd.DataFrame(
        {
            "train_size": np.repeat(sizes, n_folds).astype(int),
            "fraction": np.repeat(sizes / len(folds[0][0]), n_folds).round(3),
            "fold": np.tile(np.arange(n_folds), n_sizes),
            "train_score": sign * train.ravel(),
            "valid_score": sign * valid.ravel(),
            "fit_seconds": fit_times.ravel(),
            "metric": metric,
        }
    )


def plot_learning_curve(frame: pd.DataFrame, title: str = "Learning curve") -> Figure:
    """Mean training and validation score (± one standard deviation over folds) against training rows;
    titled after the family in ``frame["model"]`` when the frame names one."""
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.subplots()
    stats = frame.groupby("train_size")[["train_score", "valid_score"]].agg(["mean", "std"])
    x = stats.index.to_numpy()
    for column, color, name in (("train_score", _GREY, "training rows"), ("valid_score", _BLUE, "held-out fold")):
        mean, std = stats[(column, "mean")].to_numpy(), stats[(column, "std")].fillna(0).to_numpy()
        ax.plot(x, mean, marker="o", color=color, label=name)
        ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.2)
    ax.set_xlabel("training rows")
    ax.set_ylabel(label(frame["metric"].iloc[0]) if len(frame) else "score")
    folds = frame["fold"].nunique()
    if title == "Learning curve" and "model" in frame and len(frame):
        title = f"Learning curve of {frame['model'].iloc[0]}"
    ax.set_title(f"{label(title, 60)} ({folds} CV folds, mean ± std)")
    ax.legend()
    return fig


def _members(model: Any, name: str | None) -> list[tuple[str, Any]]:
    """(name, estimator) pairs of the iterative models inside ``model``."""
    if hasattr(model, "steps"):  # Pipeline (scikit-learn or imbalanced-learn)
        return _members(model.steps[-1][1], name)
    if hasattr(model, "named_estimators_"):  # Voting*, Stacking*
        return [pair for member, estimator in model.named_estimators_.items() for pair in _members(estimator, member)]
    if hasattr(model, "estimators_") and isinstance(getattr(model, "estimators", None), list):  # saved without it
        names = [member for member, estimator in model.estimators if not isinstance(estimator, str)]  # not "drop"
        fitted = zip(names, model.estimators_, strict=True)
        return [pair for member, estimator in fitted for pair in _members(estimator, member)]
    if hasattr(model, "estimator_"):  # TunedThresholdClassifierCV, older FixedThresholdClassifier
        return _members(model.estimator_, name)
    if hasattr(model, "threshold") and hasattr(model, "estimator"):  # FixedThresholdClassifier, frozen model
        return _members(model.estimator, name)
    return [(name or type(model).__name__, model)]


def _curves(model: Any, name: str) -> pd.DataFrame | None:
    if hasattr(model, "history_") and isinstance(model.history_, pd.DataFrame):
        return _from_history(model, name)
    if hasattr(model, "validation_score_") and hasattr(model, "train_score_"):  # HistGradientBoosting*
        return _from_hist_boosting(model, name)
    if hasattr(model, "train_score_") and hasattr(model, "estimators_"):  # GradientBoosting*
        return _frame(
            name,
            "iteration",
            np.arange(1, len(model.train_score_) + 1),
            train_loss=model.train_score_,
            kept=len(model.train_score_),
        )
    return None


def _from_history(model: Any, name: str) -> pd.DataFrame | None:
    history = model.history_
    if history.empty or "epoch" not in history:
        return None
    metric = "roc_auc" if hasattr(model, "classes_") else "r2"
    return _frame(
        name,
        "epoch",
        history["epoch"].to_numpy(),
        kept=getattr(model, "best_epoch_", int(history["epoch"].iloc[-1])),
        metric=metric,
        **{c: history[c].to_numpy() for c in ("train_loss", "valid_loss", "valid_score", "lr", "dur") if c in history},
    )


def _from_hist_boosting(model: Any, name: str) -> pd.DataFrame | None:
    train, valid = np.asarray(model.train_score_, float), np.asarray(model.validation_score_, float)
    if not len(train):  # scores are only recorded with early stopping
        return None
    if not len(valid):
        valid = np.full_like(train, np.nan)
    iterations = np.arange(len(train))
    if model.scoring == "loss":  # scores are negative losses
        return _frame(name, "iteration", iterations, train_loss=-train, valid_loss=-valid, kept=model.n_iter_)
    metric = model.scoring if isinstance(model.scoring, str) else "score"
    sign, metric = (-1.0, metric[4:]) if metric.startswith("neg_") else (1.0, metric)
    return _frame(
        name,
        "iteration",
        iterations,
        train_score=sign * train,
        valid_score=sign * valid,
        metric=metric,
        kept=model.n_iter_,
    )


def _frame(name: str, unit: str, iterations, *, kept: int, metric: str = "", **columns) -> pd.DataFrame:
    iterations = np.asarray(iterations, dtype=np.int64)
    frame = pd.DataFrame(
        {"model": name, "unit": unit, "iteration": iterations, "metric": metric, "kept": iterations == kept}
    )
    for column in CURVE_COLUMNS:
        if column not in frame:
            frame[column] = np.asarray(columns[column], dtype=float) if column in columns else np.nan
    return frame[list(CURVE_COLUMNS)]
