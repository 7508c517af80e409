"""Ensembles of the best model families, kept only when they beat the best single model by more than noise.

Three kinds. **selection** (the default) weighs every cross-validated family; the other two are
made of the ``top_k`` families by mean CV score:

* **selection**: greedy weighted ensemble selection (Caruana et al., 2004, as AutoGluon and
  auto-sklearn do it): starting from the best family, add (with replacement) whichever family's
  out-of-fold predictions most improve the blend, :data:`SELECTION_ROUNDS` times, and keep the
  best prefix. The weights are how often each family was picked. Its CV is honest: the weights
  scored on fold ``k`` were chosen on the other folds' out-of-fold predictions only. The
  saved model is a weighted ``VotingClassifier``/``VotingRegressor`` of the members.

* **voting**: the average of the members' predictions (probabilities for
  classification: soft voting). It is scored on each CV fold from the members'
  out-of-fold predictions — exactly what a ``VotingClassifier``/``VotingRegressor``
  fitted on that fold's training rows would predict — so it costs no fit.
* **stacking**: scikit-learn's ``StackingClassifier``/``StackingRegressor``; a
  ``LogisticRegression`` (classification) or ``RidgeCV`` (regression) learns from
  the members' predictions on its own inner folds. It is cross-validated on the
  same outer folds as the single models, so it needs the training rows ``X``.
  With ``fold_pipelines`` (searched families), each outer fold's stacking is made
  of the members with the settings their search chose on that fold's training
  rows, so the outer fold stays unseen by the search (nested).

**The rule.** For each ensemble and each fold ``f``, ``d_f = ensemble score −
best single model score`` on that fold (scores as scikit-learn's scorers give
them: greater is better). The fold noise is the standard error of those paired
differences, ``std(d, ddof=1) / sqrt(folds)``. Voting or stacking is kept only when
``mean(d) > noise`` (and so ``mean(d) > 0``). The selection is kept when ``mean(d) > 0``:
like the best single family, it is picked by its mean, and its CV is as honest (each fold's
weights never saw that fold). When both kinds are kept the one
with the higher mean wins (voting on a tie: it is simpler); otherwise the best
single model stays the winner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from nblib.common.jsonsafe import finite

__all__ = [
    "KINDS",
    "ENSEMBLES",
    "RULE",
    "SELECTION_ROUNDS",
    "EnsembleResult",
    "evaluate_ensembles",
    "rank_auc",
    "select_weights",
]

#: What ``train.ensemble`` can ask for (besides ``none``); ``both`` is voting and stacking.
KINDS = ("selection", "both", "voting", "stacking")

#: The ensemble candidates (names that are not families).
ENSEMBLES = ("selection", "voting", "stacking")

#: Rounds of greedy ensemble selection (the best prefix is kept).
SELECTION_ROUNDS = 25

#: The decision rule, in words, as saved with the result.
RULE = (
    "voting or stacking is kept only when its mean paired per-fold gain over the best single model is larger "
    "than the standard error of those gains (std with ddof=1 / sqrt(folds)); the selection, whose weights are "
    "chosen on the other folds only (so its CV is as honest as a single model's), when its mean gain is positive"
)


@dataclass
class EnsembleResult:
    """Per-fold scores of the single models and the ensembles, the winner, and how to build it.

    Attributes
    ----------
    scoring : str
        The scikit-learn scorer name (greater is better).
    task : {"classification", "regression"}
    members : list of str
        The ``top_k`` families the ensembles are made of, best first.
    scores : dict
        ``candidate -> per-fold scores`` for every single family and each ensemble evaluated.
    best_single : str
        The single family with the best mean score.
    winner : str
        ``best_single``, ``"voting"`` or ``"stacking"``.
    gains : dict
        ``ensemble -> (mean paired gain over best_single, its standard error)``.
    oof : dict
        ``ensemble -> out-of-fold predictions`` in the shape the single models' come in
        (positive-class probability, probability matrix, or prediction).
    notes : list of str
    """

    scoring: str
    task: str
    members: list[str]
    scores: dict[str, list[float]]
    best_single: str
    winner: str
    gains: dict[str, tuple[float, float]] = field(default_factory=dict)
    oof: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    notes: list[str] = field(default_factory=list)
    pipelines: dict[str, Any] = field(default_factory=dict, repr=False)
    fold_pipelines: dict[str, list[Any]] = field(default_factory=dict, repr=False)
    n_jobs: int | None = None
    random_state: int = 0
    stack_folds: int = 3
    weights: dict[str, float] = field(default_factory=dict)

    @property
    def table(self) -> pd.DataFrame:
        """One row per candidate (single models, then ensembles): kind, mean, std, gain, noise, verdict."""
        rows = {}
        for name, s in self.scores.items():
            kind = name if name in ENSEMBLES and name not in self.pipelines else "single"
            gain, noise = self.gains.get(name, (np.nan, np.nan)) if kind != "single" else (np.nan, np.nan)
            rows[name] = {
                "kind": kind,
                "mean": float(np.mean(s)),
                "std": float(np.std(s)),
                "gain": gain,
                "noise": noise,
                "winner": name == self.winner,
                "verdict": self._verdict(name, kind),
            }
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis("candidate")

    def shown_table(self) -> pd.DataFrame:
        """:attr:`table` with ``mean`` as the metric itself (RMSE positive), best first; ``gain`` stays
        the improvement over the best single model (positive = better)."""
        from nblib.ml.evaluation.scoring import shown_frame

        return shown_frame(self.table, self.scoring)

    def build(self, name: str, fold: int | None = None):
        """The unfitted estimator of candidate ``name``, to refit on all training rows.

        A family gives a clone of its pipeline; ``"voting"`` a soft ``VotingClassifier``
        (or ``VotingRegressor``) over the member pipelines; ``"stacking"`` the
        ``StackingClassifier`` (or ``StackingRegressor``) that was cross-validated.
        With ``fold``, members that have per-fold pipelines (``fold_pipelines``) use that
        outer fold's one.
        """
        pipelines = self.pipelines
        if fold is not None:
            pipelines = {
                n: (self.fold_pipelines[n][fold] if n in self.fold_pipelines else p) for n, p in self.pipelines.items()
            }
        if name in pipelines:
            return clone(pipelines[name])
        if name == "voting":
            return _voting(self.members, pipelines, self.task, self.n_jobs)
        if name == "selection":
            return _voting(list(self.weights), pipelines, self.task, self.n_jobs, list(self.weights.values()))
        if name == "stacking":
            return _stacking(self.members, pipelines, self.task, self.n_jobs, self.random_state, self.stack_folds)
        raise ValueError(f"unknown candidate {name!r}; choose from {', '.join([*self.pipelines, *ENSEMBLES])}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: plain floats and strings, no NaN."""
        table = self.table
        return {
            "scoring": self.scoring,
            "members": list(self.members),
            "weights": dict(self.weights),
            "best_single": self.best_single,
            "winner": self.winner,
            "rule": RULE,
            "notes": list(self.notes),
            "candidates": {
                name: {
                    "kind": row["kind"],
                    "mean": row["mean"],
                    "std": row["std"],
                    "scores": [float(v) for v in self.scores[name]],
                    "gain": finite(row["gain"]),
                    "noise": finite(row["noise"]),
                    "winner": bool(row["winner"]),
                    "verdict": row["verdict"],
                }
                for name, row in table.iterrows()
            },
        }

    def _verdict(self, name: str, kind: str) -> str:
        best = self.best_single
        if kind == "single":
            role = " (ensemble member)" if name in self.members else ""
            if name != best:
                diff = np.mean(self.scores[name]) - np.mean(self.scores[best])
                return f"single model{role}, {abs(diff):.4f} below {best}"
            if self.winner == best:
                tried = [k for k in ENSEMBLES if k in self.gains]
                why = (
                    f"no ensemble ({', '.join(tried)}) beat it by more than the fold noise"
                    if tried
                    else "no ensemble evaluated"
                )
                return f"winner: best single model{role}; {why}"
            return f"best single model{role}, beaten by {self.winner}"
        gain, noise = self.gains[name]
        beats = f"{gain:+.4f} over {best} (fold noise {noise:.4f})"
        if name == "selection":
            beats = "weights " + ", ".join(f"{n} {w:.2f}" for n, w in self.weights.items()) + "; " + beats
        if name == "selection" and gain > 1e-9:
            if name == self.winner:
                return f"winner: {beats}; its weights were chosen on the other folds, so the gain is honest"
            return f"kept but not the winner: {beats}; {self.winner} gains more"
        if gain > noise:
            if name == self.winner:
                return f"winner: {beats} is more than the fold noise"
            return f"kept but not the winner: {beats}; {self.winner} gains more"
        if gain > 0:
            return f"not kept: {beats} is within the fold noise"
        return f"not kept: no gain over {best} ({gain:+.4f}, fold noise {noise:.4f})"


def evaluate_ensembles(
    pipelines: dict[str, Any],
    fold_scores: dict[str, list[float]],
    oof: dict[str, np.ndarray],
    folds: list[tuple[np.ndarray, np.ndarray]],
    y,
    *,
    task: str,
    scoring: str,
    kind: str = "both",
    top_k: int = 3,
    n_jobs: int | None = None,
    random_state: int = 0,
    X: pd.DataFrame | None = None,
    groups=None,
    stack_folds: int = 3,
    fold_pipelines: dict[str, list[Any]] | None = None,
) -> EnsembleResult:
    """Score soft voting and stacking over the best ``top_k`` families and decide whether to keep one.

    Parameters
    ----------
    pipelines : dict
        ``family -> unfitted pipeline`` of every candidate that was cross-validated.
    fold_scores : dict
        ``family -> per-fold scores`` on ``folds`` (greater is better).
    oof : dict
        ``family -> out-of-fold predictions`` on ``folds``: positive-class probabilities
        (two classes), an ``(n, classes)`` probability matrix (three or more), or
        predictions (regression).
    folds : list of (train_idx, test_idx)
        The positional folds the scores and predictions come from.
    y : array-like
        The training target (class codes for classification).
    task : {"classification", "regression"}
    scoring : str
        A scikit-learn scorer name, e.g. ``"roc_auc"``, ``"roc_auc_ovr"``,
        ``"neg_root_mean_squared_error"``.
    kind : {"both", "voting", "stacking"}
    top_k : int
        How many of the best families (by mean CV score) make up the ensembles; at least 2.
    n_jobs : int, optional
        Workers for the stacking's members (and the estimators :meth:`EnsembleResult.build` returns).
    random_state : int
        Seed of the stacking's inner folds.
    X : DataFrame, optional
        The training rows ``folds`` index; needed for stacking.
    groups : array-like, optional
        Duplicate groups. The outer folds already keep them together; the stacking's
        inner folds cannot (its refit gets no groups), which a note says.
    stack_folds : int
        Inner folds of the stacking's final estimator.
    fold_pipelines : dict, optional
        ``family -> one unfitted pipeline per outer fold`` for families whose settings a
        nested search chose per fold: the stacking scored on fold ``k`` uses them.

    Returns
    -------
    EnsembleResult
    """
    from sklearn.metrics import check_scoring

    if kind not in KINDS:
        raise ValueError(f"ensemble kind must be one of {', '.join(KINDS)}; got {kind!r}")
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression'; got {task!r}")
    missing = [name for name in fold_scores if name not in pipelines or name not in oof]
    if missing:
        raise ValueError(f"no pipeline or out-of-fold predictions for {', '.join(missing)}")
    if kind in ("both", "stacking") and X is None:
        raise ValueError("stacking is cross-validated on the training rows: pass X=, or use kind='voting'")
    if top_k < 2:
        raise ValueError(f"top_k must be at least 2 (an ensemble of one is the model itself); got {top_k}")
    for name, s in fold_scores.items():
        if len(s) != len(folds):
            raise ValueError(f"{name}: {len(s)} fold scores for {len(folds)} folds")
    for name, per_fold in (fold_pipelines or {}).items():
        if len(per_fold) != len(folds):
            raise ValueError(f"{name}: {len(per_fold)} per-fold pipelines for {len(folds)} folds")

    y = np.asarray(y)
    ranked = sorted(fold_scores, key=lambda n: -np.mean(fold_scores[n]))
    members = ranked[:top_k]
    result = EnsembleResult(
        scoring=scoring,
        task=task,
        members=members,
        scores={n: [float(v) for v in fold_scores[n]] for n in ranked},
        best_single=ranked[0],
        winner=ranked[0],
        pipelines=dict(pipelines),
        fold_pipelines=dict(fold_pipelines or {}),
        n_jobs=n_jobs,
        random_state=random_state,
        stack_folds=stack_folds,
    )
    if len(members) < 2:
        result.notes.append(f"only {len(members)} family cross-validated: no ensemble to build")
        return result

    if kind == "selection":
        result.scores["selection"], result.oof["selection"] = _cross_validate_selection(result, oof, y, folds, scoring)
        result.members = list(result.weights)
    if kind in ("both", "voting"):
        averaged = np.mean([np.asarray(oof[n], dtype=float) for n in members], axis=0)
        scorer, classes = check_scoring(None, scoring=scoring), np.unique(y) if task == "classification" else None
        result.scores["voting"] = [
            float(scorer(_Replay(averaged, task, classes), test.reshape(-1, 1), y[test])) for _, test in folds
        ]
        result.oof["voting"] = averaged
    if kind in ("both", "stacking"):
        result.scores["stacking"], result.oof["stacking"] = _cross_validate_stacking(result, X, y, folds)
        if groups is not None and pd.Series(np.asarray(groups)).nunique() < len(y):
            result.notes.append(
                "stacking: its inner folds do not keep duplicate groups together (the refit "
                "gets no groups); the outer folds that score it do"
            )

    best = np.asarray(result.scores[result.best_single])
    kept = []
    for name in ENSEMBLES:
        if name in result.scores:
            d = np.asarray(result.scores[name]) - best
            result.gains[name] = (float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d))))
            if result.gains[name][0] > (result.gains[name][1] if name != "selection" else 1e-9):
                kept.append(name)
    if kept:
        result.winner = max(kept, key=lambda n: (result.gains[n][0], n == "voting"))
    return result


# --------------------------------------------------------------------------- helpers


def _voting(members, pipelines, task, n_jobs, weights=None):
    from sklearn.ensemble import VotingClassifier, VotingRegressor

    estimators = [(name, clone(pipelines[name])) for name in members]
    if task == "classification":
        return VotingClassifier(estimators, voting="soft", weights=weights, n_jobs=n_jobs)
    return VotingRegressor(estimators, weights=weights, n_jobs=n_jobs)


def select_weights(
    predictions: dict[str, np.ndarray], y, score, *, rounds: int = SELECTION_ROUNDS, start: str | None = None
) -> dict[str, float]:
    """Greedy ensemble selection with replacement (Caruana et al., 2004): family -> weight (summing to 1).

    ``predictions`` are out-of-fold predictions of the same rows (positive-class probabilities,
    probability matrices or regression predictions), ``score(y, blend)`` is greater-is-better
    (a scikit-learn metric such as ``roc_auc_score``).
    Starting from ``start`` (default: the best single family), each round adds the family whose
    predictions most improve the running average; the best prefix of ``rounds`` rounds is kept,
    so the blend never scores below its start.

    >>> import numpy as np
    >>> y = np.array([0, 0, 1, 1])
    >>> p = {"a": np.array([0.1, 0.6, 0.4, 0.9]), "b": np.array([0.5, 0.1, 0.8, 0.3])}
    >>> from sklearn.metrics import roc_auc_score
    >>> select_weights(p, y, roc_auc_score)
    {'a': 0.5, 'b': 0.5}
    """
    names = list(predictions)
    stacked = {n: np.asarray(predictions[n], dtype=float) for n in names}
    singles = {n: score(y, stacked[n]) for n in names}
    first = start if start is not None else max(names, key=lambda n: (singles[n], -names.index(n)))
    picks, total = [first], stacked[first].copy()
    best_score, best_len = singles[first], 1
    for _ in range(rounds - 1):
        trial = {n: score(y, (total + stacked[n]) / (len(picks) + 1)) for n in names}
        pick = max(names, key=lambda n: (trial[n], -names.index(n)))
        picks.append(pick)
        total += stacked[pick]
        if trial[pick] > best_score + 1e-12:
            best_score, best_len = trial[pick], len(picks)
    kept = picks[:best_len]
    return {n: kept.count(n) / len(kept) for n in dict.fromkeys(kept)}


def _cross_validate_selection(result: EnsembleResult, oof, y, folds, scoring) -> tuple[list[float], np.ndarray]:
    """Weights chosen on the other folds' out-of-fold rows, scored on each fold (nested, so honest)."""
    from sklearn.metrics import check_scoring

    scorer = check_scoring(None, scoring=scoring)
    classes = np.unique(y) if result.task == "classification" else None
    direct = _direct_metric(scorer, result.task)

    def score(rows, blend):
        if direct is not None:
            return direct(y[rows], blend)
        return float(scorer(_Replay(blend, result.task, classes), np.arange(len(rows)).reshape(-1, 1), y[rows]))

    names = list(result.scores)
    preds = {n: np.asarray(oof[n], dtype=float) for n in names}
    scores, out = [], np.zeros_like(preds[names[0]])
    for _, test in folds:
        rest = np.setdiff1d(np.arange(len(y)), test)
        weights = select_weights({n: p[rest] for n, p in preds.items()}, rest, score)
        blend = sum(w * preds[n] for n, w in weights.items())
        out[test] = blend[test]
        scores.append(score(test, blend[test]))
    result.weights = select_weights(preds, np.arange(len(y)), score)
    return scores, out


def _stacking(members, pipelines, task, n_jobs, random_state, stack_folds):
    from sklearn.ensemble import StackingClassifier, StackingRegressor
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.model_selection import KFold, StratifiedKFold

    estimators = [(name, clone(pipelines[name])) for name in members]
    if task == "classification":
        return StackingClassifier(
            estimators,
            final_estimator=LogisticRegression(max_iter=1000, random_state=random_state),
            cv=StratifiedKFold(stack_folds, shuffle=True, random_state=random_state),
            stack_method="predict_proba",
            n_jobs=n_jobs,
        )
    return StackingRegressor(
        estimators,
        final_estimator=RidgeCV(),
        cv=KFold(stack_folds, shuffle=True, random_state=random_state),
        n_jobs=n_jobs,
    )


def _cross_validate_stacking(result: EnsembleResult, X, y, folds) -> tuple[list[float], np.ndarray]:
    """Fit the stacking on each outer fold's training rows; score it and keep its held-out predictions."""
    from sklearn.metrics import check_scoring

    scores, parts = [], []
    for k, (train, test) in enumerate(folds):
        model = result.build("stacking", fold=k).fit(X.iloc[train], y[train])
        scorer = check_scoring(model, scoring=result.scoring)
        scores.append(float(scorer(model, X.iloc[test], y[test])))
        if result.task == "classification":
            proba = model.predict_proba(X.iloc[test])
            parts.append(proba[:, 1] if proba.shape[1] == 2 else proba)
        else:
            parts.append(model.predict(X.iloc[test]))
    first = parts[0]
    out = np.zeros((len(y), *first.shape[1:]))
    for (_, test), part in zip(folds, parts, strict=True):
        out[test] = part
    return scores, out


def _direct_metric(scorer, task: str):
    """``metric(y, blend)`` for scorers that read probabilities or predictions as they are (the ROC-AUC,
    average-precision, log-loss and regression scorers), with the scorer's sign; None for the others
    (their predictions need a threshold or an argmax, which :class:`_Replay` gives). Selection scores
    hundreds of blends, so it skips the scorer's per-call checks."""
    func = getattr(scorer, "_score_func", None)
    method = getattr(scorer, "_response_method", None)
    kwargs = dict(getattr(scorer, "_kwargs", {}) or {})
    sign = getattr(scorer, "_sign", 1)
    methods = set(method) if isinstance(method, (tuple, list)) else {method}
    if func is None or (task == "classification" and not methods & {"predict_proba", "decision_function"}):
        return None
    if task != "classification" and methods != {"predict"}:
        return None
    from sklearn.metrics import roc_auc_score

    plain_auc = kwargs.get("average", "macro") == "macro" and kwargs.get("max_fpr") is None
    if func is roc_auc_score and plain_auc and kwargs.get("multi_class", "raise") in ("raise", "ovr"):
        return lambda y, blend: float(sign * rank_auc(y, blend))

    def metric(y, blend):
        return float(sign * func(y, blend, **kwargs))

    return metric


def rank_auc(y, scores) -> float:
    """ROC-AUC from ranks (the Mann-Whitney U statistic), equal to ``roc_auc_score`` for two classes
    (``scores`` of the greater label) and to its macro one-vs-rest average for a probability matrix,
    without its per-call checks: selection scores hundreds of blends of the same rows.

    >>> import numpy as np
    >>> from sklearn.metrics import roc_auc_score
    >>> y, p = np.array([0, 0, 1, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8, 0.4])
    >>> bool(np.isclose(rank_auc(y, p), roc_auc_score(y, p)))
    True
    """
    from scipy.stats import rankdata

    y, scores = np.asarray(y), np.asarray(scores, dtype=float)
    classes = np.unique(y)
    if scores.ndim == 1:
        return _binary_rank_auc(y == classes[-1], rankdata(scores))
    return float(np.mean([_binary_rank_auc(y == c, rankdata(scores[:, k])) for k, c in enumerate(classes)]))


def _binary_rank_auc(positive: np.ndarray, ranks: np.ndarray) -> float:
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


class _Replay:
    """Stands in for a fitted estimator whose predictions are known, so any scikit-learn scorer can score them.

    ``X`` is a column of row positions into ``predictions``. Not an estimator:
    nothing is fitted and it is never saved.
    """

    def __init__(self, predictions: np.ndarray, task: str, classes: np.ndarray | None):
        self.predictions = predictions
        self.task = task
        if task == "classification":
            self.classes_ = classes

    def __sklearn_tags__(self):
        from sklearn.utils import ClassifierTags, RegressorTags, Tags, TargetTags

        if self.task == "classification":
            return Tags(
                estimator_type="classifier", target_tags=TargetTags(required=True), classifier_tags=ClassifierTags()
            )
        return Tags(estimator_type="regressor", target_tags=TargetTags(required=True), regressor_tags=RegressorTags())

    def _rows(self, X) -> np.ndarray:
        return self.predictions[np.asarray(X)[:, 0].astype(int)]

    def predict_proba(self, X) -> np.ndarray:
        p = self._rows(X)
        return np.column_stack([1 - p, p]) if p.ndim == 1 else p

    def predict(self, X) -> np.ndarray:
        if self.task != "classification":
            return self._rows(X)
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
