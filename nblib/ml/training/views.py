"""What ``04_train`` shows of a training result: its figures by name, its tables and its lines.

Each function takes parts of a :class:`~nblib.ml.training.trainer.TrainResult` (values, no
params) and returns what the notebook shows: ``{name: Figure}`` (the name is the figure's file
under ``artifacts/figures/04_train/``), a list of tables, or a list of lines. Nothing to show
gives an empty dict or list, so the notebook never branches on what training tried.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

__all__ = [
    "NO_SEARCH",
    "NO_ENSEMBLE",
    "search_figures",
    "search_tables",
    "comparison_tables",
    "threshold_figures",
    "threshold_lines",
    "curve_figures",
    "chosen_lines",
]

#: Printed when no family was searched.
NO_SEARCH = "no hyperparameter search: train.search.method is none, each family kept its given settings"
#: Printed when neither an ensemble nor an imbalance strategy was tried.
NO_ENSEMBLE = "no ensemble and no imbalance strategy was tried (train.ensemble: none)"


def search_figures(searches: Mapping[str, Any]) -> dict[str, Figure]:
    """Per searched family its history (``search_history_<family>``) and hyperparameter importance
    (``search_importance_<family>``), then the score of every search against time
    (``search_score_vs_time``); empty when nothing was searched.

    ``searches`` maps a family to its :class:`~nblib.ml.training.search.SearchResult`.
    """
    from nblib.ml.training.search import plot_history, plot_param_importance, plot_score_vs_time

    figures: dict[str, Figure] = {}
    for name, found in searches.items():
        figures[f"search_history_{name}"] = plot_history(found.trials, f"{name}: {found.method} search", found.scoring)
        figures[f"search_importance_{name}"] = plot_param_importance(found)
    if searches:
        figures["search_score_vs_time"] = plot_score_vs_time(list(searches.values()))
    return figures


def search_tables(searches: Mapping[str, Any], rows: int = 10) -> list[pd.DataFrame]:
    """The best ``rows`` trials of each search, as shown (the metric itself, best first)."""
    return [found.shown_trials().head(rows) for found in searches.values()]


def comparison_tables(ensemble: Any = None, imbalance: pd.DataFrame | None = None) -> list[pd.DataFrame]:
    """The ensemble candidates' table and the imbalance strategies' table, those that were made."""
    tables = [] if ensemble is None else [ensemble.shown_table()]
    return tables if imbalance is None else [*tables, imbalance]


def threshold_figures(choice: Any = None) -> dict[str, Figure]:
    """``{"threshold": ...}``: the chosen decision threshold's curves; empty without a choice
    (regression, three or more classes, a fixed threshold)."""
    from nblib.ml.training.threshold import plot_threshold

    return {} if choice is None else {"threshold": plot_threshold(choice)}


def threshold_lines(choice: Any = None) -> list[str]:
    """The sentence on the chosen threshold (:func:`~nblib.ml.training.trainer.threshold_line`), if any."""
    from nblib.ml.training.trainer import threshold_line

    return [] if choice is None else [threshold_line(choice)]


def curve_figures(
    curves: pd.DataFrame | None = None, label: str = "", learning_curve: pd.DataFrame | None = None
) -> dict[str, Figure]:
    """``iteration_curves`` (per iteration or epoch of the chosen model, titled ``label``) and
    ``learning_curve``, those that were computed."""
    from nblib.ml.training.curves import plot_iteration_curves, plot_learning_curve

    figures: dict[str, Figure] = {}
    if curves is not None:
        figures["iteration_curves"] = plot_iteration_curves(curves, label)
    if learning_curve is not None:
        figures["learning_curve"] = plot_learning_curve(learning_curve)
    return figures


def chosen_lines(chosen: Any, refit_seconds: float, seconds: float) -> list[str]:
    """Two lines: the chosen model with its CV mean ± std and how it was scored; refit and training time.

    ``chosen`` is a :class:`~nblib.ml.training.cv.ChosenModel` (``label``, ``shown_cv_mean``,
    ``cv_std``, ``cv_note``).
    """
    return [
        f"chosen: {chosen.label}, CV {chosen.shown_cv_mean:.4f} ± {chosen.cv_std:.4f} ({chosen.cv_note})",
        f"refit in {refit_seconds:.1f}s, training took {seconds:.0f}s",
    ]
