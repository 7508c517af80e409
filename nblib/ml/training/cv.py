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
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import Pipeline

from nblib.common.jsonsafe import finite
from nblib.ml.features import densify_for, native_categories_for
from nblib.ml.training.families import FAMILIES, make_model

__all__ = [
    "ChosenModel",
    "CVResult",
    "default_scoring",
    "build_pipeline",
    "adapt_folds",
    "make_splitter",
    "plain_cv_note",
]

#: What a chosen model can be.
CHOSEN_KINDS = ("single", "selection", "voting", "stacking")


def plain_cv_note(folds: int, grouped: bool = False) -> str:
    """The ``cv_note`` of a family scored on the shared folds with its settings fixed in advance."""
    return f"{folds}-fold CV, settings fixed in advance" + (", duplicate groups kept in one fold" if grouped else "")


@dataclass
class ChosenModel:
    """The model the training stage saved: the one record every page, command and tag reads.

    Attributes
    ----------
    name : str
        A family name (``kind`` single) or ``"voting"`` / ``"stacking"``.
    kind : {"single", "voting", "stacking"}
    cv_mean, cv_std : float
        Cross-validation of *this* model (scikit-learn's sign: greater is better, so
        ``neg_root_mean_squared_error`` is negative).
    cv_scores : list of float
        Its per-fold scores.
    members : list of str
        The families an ensemble is made of (empty for a single model).
    searched : bool
        Its hyperparameters (or a member's) were searched.
    cv_note : str
        Which CV the scores come from, in words (e.g. nested CV for a searched family).
    scoring : str
    folds : int
    """

    name: str
    kind: str
    cv_mean: float
    cv_std: float
    cv_scores: list[float] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    searched: bool = False
    cv_note: str = ""
    scoring: str = ""
    folds: int = 0

    def __post_init__(self) -> None:
        if self.kind not in CHOSEN_KINDS:
            raise ValueError(f"chosen model kind must be one of {', '.join(CHOSEN_KINDS)}; got {self.kind!r}")

    @property
    def shown_cv_mean(self) -> float:
        """``cv_mean`` as the metric itself (RMSE positive), as every page shows it."""
        from nblib.ml.evaluation.scoring import shown_score

        return shown_score(self.cv_mean, self.scoring)

    @property
    def label(self) -> str:
        """``"voting of a, b"`` for an ensemble, the family's name otherwise."""
        return self.name if self.kind == "single" else f"{self.kind} of {', '.join(self.members)}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (plain floats; a non-finite score becomes None)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "label": self.label,
            "cv_mean": finite(self.cv_mean),
            "cv_std": finite(self.cv_std),
            "cv_scores": [finite(v) for v in self.cv_scores],
            "members": list(self.members),
            "searched": bool(self.searched),
            "cv_note": self.cv_note,
            "scoring": self.scoring,
            "folds": int(self.folds),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChosenModel:
        """The record :meth:`to_dict` wrote (``label`` is derived, so ignored)."""
        nan = float("nan")
        return cls(
            name=str(data["name"]),
            kind=str(data.get("kind", "single")),
            cv_mean=nan if data.get("cv_mean") is None else float(data["cv_mean"]),
            cv_std=nan if data.get("cv_std") is None else float(data["cv_std"]),
            cv_scores=[nan if v is None else float(v) for v in data.get("cv_scores") or []],
            members=[str(m) for m in data.get("members") or []],
            searched=bool(data.get("searched")),
            cv_note=str(data.get("cv_note") or ""),
            scoring=str(data.get("scoring") or ""),
            folds=int(data.get("folds") or 0),
        )


@dataclass
class CVResult:
    """Cross-validation scores of each candidate, the best single family and the chosen model.

    ``best_model`` is the best single family by mean CV score; ``chosen`` is what was
    saved (that family, or an ensemble that beat it). ``cv_notes`` says, per family, which
    CV its scores come from.
    """

    scoring: str
    folds: int
    scores: dict[str, list[float]] = field(default_factory=dict)
    fit_seconds: dict[str, float] = field(default_factory=dict)
    best_model: str = ""
    refit_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    grouped: bool = False
    cv_notes: dict[str, str] = field(default_factory=dict)
    chosen: ChosenModel | None = None

    @property
    def table(self) -> pd.DataFrame:
        """One row per model: mean, std, which CV, per-fold scores, best first; scores as the metric
        itself (RMSE positive, lower first), not scikit-learn's negated scorer."""
        from nblib.ml.evaluation.scoring import shown_scoring

        sign = shown_scoring(self.scoring)[1]
        rows = {
            name: {
                "mean": sign * np.mean(s),
                "std": np.std(s),
                "fit_seconds": self.fit_seconds[name],
                "cv": self.cv_note(name),
                **{f"fold_{i}": sign * v for i, v in enumerate(s)},
            }
            for name, s in self.scores.items()
        }
        return pd.DataFrame(rows).T.sort_values("mean", ascending=sign < 0)

    def cv_note(self, name: str) -> str:
        """Which CV ``name``'s scores come from."""
        return self.cv_notes.get(name) or plain_cv_note(self.folds, self.grouped)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready. ``best_model`` is the chosen model's name (an ensemble's when one won),
        ``best_single`` the best single family, ``chosen`` the full record."""
        return {
            "scoring": self.scoring,
            "folds": self.folds,
            "best_model": self.chosen.name if self.chosen else self.best_model,
            "best_single": self.best_model,
            "chosen": self.chosen.to_dict() if self.chosen else None,
            "refit_seconds": round(self.refit_seconds, 3),
            "grouped": self.grouped,
            "notes": self.notes,
            "models": {
                name: {
                    "mean": float(np.mean(s)),
                    "std": float(np.std(s)),
                    "scores": [float(v) for v in s],
                    "fit_seconds": round(self.fit_seconds[name], 3),
                    "cv_note": self.cv_note(name),
                }
                for name, s in self.scores.items()
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CVResult:
        """The CV part of ``cv_results.json`` (what :meth:`to_dict` wrote; the training stage's other
        keys are ignored). :class:`~nblib.ml.evaluation.records.RecordError` names a missing key."""
        from nblib.ml.evaluation.records import require_keys

        require_keys(data, ("scoring", "folds", "models"), "cv_results.json")
        models = {
            name: require_keys(m, ("scores",), f"cv_results.json: models.{name}")
            for name, m in (data["models"] or {}).items()
        }
        chosen = data.get("chosen")
        if chosen is not None:
            require_keys(chosen, ("name",), "cv_results.json: chosen")
        return cls(
            scoring=str(data["scoring"] or ""),
            folds=int(data["folds"]),
            scores={name: [float(v) for v in m["scores"]] for name, m in models.items()},
            fit_seconds={name: float(m.get("fit_seconds") or 0.0) for name, m in models.items()},
            best_model=str(data.get("best_single") or data.get("best_model") or ""),
            refit_seconds=float(data.get("refit_seconds") or 0.0),
            notes=list(data.get("notes") or []),
            grouped=bool(data.get("grouped")),
            cv_notes={name: str(m["cv_note"]) for name, m in models.items() if m.get("cv_note")},
            chosen=ChosenModel.from_dict(chosen) if chosen is not None else None,
        )


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
        if groups is not None:  # each group counts once, as its most frequent class (the smallest on a tie)
            pairs = pd.DataFrame({"group": np.asarray(groups), "label": np.asarray(y)})
            sizes = pairs.groupby(["group", "label"]).size().reset_index(name="rows")
            sizes = sizes.sort_values(["group", "rows", "label"], ascending=[True, False, True], kind="stable")
            units = sizes.drop_duplicates("group")["label"]
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
            n_splits=cv_folds, shuffle=True, random_state=random_state
        )
    return (StratifiedKFold if task == "classification" else KFold)(
        n_splits=cv_folds, shuffle=True, random_state=random_state
    )


def build_pipeline(
    features: ColumnTransformer,
    name: str,
    task: str,
    params: dict[str, Any] | None = None,
    *,
    svd_components: int = 48,
    random_state: int = 0,
    class_weight: str | None = None,
    native_categorical: bool = True,
) -> Pipeline:
    """features → [dense] → model, with the dense feature variant for models that need it (and a narrow
    sparse matrix made dense for the forests, :attr:`ModelFamily.dense_when_narrow`).

    Families that split on categories natively (:attr:`ModelFamily.native_categorical`) get the
    categorical columns as ordinal codes instead of one-hot columns, unless ``native_categorical``
    is off (a resampler that interpolates rows would make the codes meaningless).
    """
    family = FAMILIES[(name, task)]
    feats = (
        clone(features)
        if family.accepts_sparse
        else densify_for(features, svd_components=svd_components, random_state=random_state, task=task)
    )
    model = make_model(name, task, params, random_state=random_state, n_jobs=1, class_weight=class_weight)
    if family.native_categorical and native_categorical:
        feats, k = native_categories_for(feats)
        if k:
            model.set_params(**{family.categorical_param: list(range(k))})
            if family.categorical_param == "categorical_feature":
                _quiet_lightgbm()
    if family.dense_when_narrow:
        from nblib.ml.features import DenseWhenNarrow

        return Pipeline([("features", feats), ("dense", DenseWhenNarrow()), ("model", model)])
    return Pipeline([("features", feats), ("model", model)])


def _quiet_lightgbm() -> None:
    """LightGBM warns that ``categorical_feature`` given as a parameter "will be ignored", yet uses it (its
    booster splits those columns as categories; tests/ml/test_search_models.py checks). The warning is
    silenced by its message only (scikit-learn hands warning filters on to its joblib workers)."""
    import warnings

    warnings.filterwarnings("ignore", message="categorical_feature keyword has been found", category=UserWarning)
