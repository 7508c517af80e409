"""Model selection: compare model families by cross-validation on training data.

Every candidate is a full Pipeline (features → model), so every fitted step is
fitted inside the CV folds only. The best family by mean CV score is refit on
all training data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import Pipeline

from nblib.ml.features import densify_for
from nblib.ml.models import FAMILIES, make_model

__all__ = ["CVResult", "default_scoring", "build_pipeline", "compare_models", "adapt_folds", "make_splitter"]


@dataclass
class CVResult:
    """Cross-validation scores of each candidate and the winner."""

    scoring: str
    folds: int
    scores: dict[str, list[float]] = field(default_factory=dict)
    fit_seconds: dict[str, float] = field(default_factory=dict)
    best_model: str = ""
    refit_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    grouped: bool = False

    @property
    def table(self) -> pd.DataFrame:
        """One row per model: mean, std and per-fold scores, best first."""
        rows = {
            name: {"mean": np.mean(s), "std": np.std(s), "fit_seconds": self.fit_seconds[name],
                   **{f"fold_{i}": v for i, v in enumerate(s)}}
            for name, s in self.scores.items()
        }
        return pd.DataFrame(rows).T.sort_values("mean", ascending=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scoring": self.scoring,
            "folds": self.folds,
            "best_model": self.best_model,
            "refit_seconds": round(self.refit_seconds, 3),
            "grouped": self.grouped,
            "notes": self.notes,
            "models": {
                name: {"mean": float(np.mean(s)), "std": float(np.std(s)), "scores": [float(v) for v in s],
                       "fit_seconds": round(self.fit_seconds[name], 3)}
                for name, s in self.scores.items()
            },
        }


def default_scoring(task: str, n_classes: int = 2) -> str:
    """ROC-AUC for classification (macro one-vs-rest for 3+ classes), negative RMSE for regression."""
    if task != "classification":
        return "neg_root_mean_squared_error"
    return "roc_auc" if n_classes <= 2 else "roc_auc_ovr"


def adapt_folds(y: pd.Series, cv_folds: int, *, task: str, groups: pd.Series | None = None) -> tuple[int, str | None]:
    """The number of CV folds this training split can hold, and a note when it is fewer than asked.

    Stratified folds need each class in every fold: no more folds than rows of
    the rarest class (or duplicate groups holding it).
    """
    if task == "classification":
        units = pd.Series(np.asarray(y), index=y.index)
        if groups is not None:
            units = units.groupby(np.asarray(groups)).agg(lambda s: s.mode().iloc[0])
        limit, why = int(units.value_counts().min()), "the rarest class"
    else:
        limit = len(y) if groups is None else int(pd.Series(np.asarray(groups)).nunique())
        why = "the training rows"
    folds = max(2, min(cv_folds, limit))
    if folds < cv_folds:
        return folds, f"train.cv_folds {cv_folds} lowered to {folds}: {why} has only {limit} rows"
    return folds, None


def make_splitter(task: str, cv_folds: int, random_state: int, grouped: bool):
    """Shuffled, seeded folds: stratified for classification, group-aware when rows come in duplicate groups."""
    if grouped:
        return (StratifiedGroupKFold if task == "classification" else GroupKFold)(
            n_splits=cv_folds, shuffle=True, random_state=random_state)
    return (StratifiedKFold if task == "classification" else KFold)(
        n_splits=cv_folds, shuffle=True, random_state=random_state)


def build_pipeline(
    features: ColumnTransformer,
    name: str,
    task: str,
    params: dict[str, Any] | None = None,
    *,
    svd_components: int = 48,
    random_state: int = 0,
    class_weight: str | None = None,
) -> Pipeline:
    """features → model, with the dense feature variant for models that need it."""
    family = FAMILIES[(name, task)]
    feats = clone(features) if family.accepts_sparse else densify_for(
        features, svd_components=svd_components, random_state=random_state
    )
    model = make_model(name, task, params, random_state=random_state, n_jobs=1, class_weight=class_weight)
    return Pipeline([("features", feats), ("model", model)])


def compare_models(
    X: pd.DataFrame,
    y: pd.Series,
    features: ColumnTransformer,
    models: dict[str, dict[str, Any]],
    *,
    task: str,
    cv_folds: int = 5,
    scoring: str | None = None,
    svd_components: int = 48,
    class_weight: str | None = None,
    random_state: int = 0,
    n_jobs: int | None = None,
    progress: bool = True,
    groups: pd.Series | None = None,
) -> tuple[CVResult, BaseEstimator]:
    """Cross-validate each model family, then refit the best on all of ``X``.

    The plain case of :func:`nblib.ml.training.train`: no search, resampling,
    ensembles or threshold.

    Parameters
    ----------
    X, y : training data only.
    features : unfitted ColumnTransformer from the features stage.
    models : ``family name -> hyperparameters``.
    n_jobs : int, optional
        Folds run in parallel with this many workers (from params ``compute``).
    groups : Series, optional
        Duplicate group of each row: a group never straddles two folds.

    Returns
    -------
    result : CVResult
    best : fitted Pipeline of the best family.
    """
    from nblib.ml.training import train

    trained = train(X, y, features, models, task=task, cv_folds=cv_folds, scoring=scoring,
                    svd_components=svd_components, class_weight=class_weight, screen_rows=None,
                    learning_curve=False, groups=groups, random_state=random_state, n_jobs=n_jobs,
                    progress=print if progress else None)
    trained.cv.notes = list(dict.fromkeys(trained.cv.notes + trained.notes))
    return trained.cv, trained.model
