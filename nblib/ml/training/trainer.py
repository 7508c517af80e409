"""The training stage as one chain of named steps, under a time budget.

screen rows → for each family, cheapest first: (search its hyperparameters) →
cross-validate with out-of-fold predictions → (ensembles of the best) → refit
the winner on every training row → choose the decision threshold on the
out-of-fold predictions → (compare imbalance strategies) → curves.

**Searched families are scored by nested CV.** A search's best score was picked
on the folds it is measured on, so it is optimistic. When ``search`` is on, each
family's search is re-run on the training part of every outer fold (with its own
inner folds, :data:`INNER_FOLDS` at most) and the settings it picks there are
scored on the outer fold it never saw. Those outer-fold scores (and out-of-fold
predictions, which feed the ensembles and the threshold) are what families,
ensembles and the test score are compared with. The settings that are refit are
those of one more search on all the rows. Each family's ``cv_note`` says which
CV its score is; :class:`~nblib.ml.training.cv.ChosenModel` records the saved model.

Every candidate is a whole pipeline (features → [sampler] → model), so every
fitted step is fitted inside the CV folds only, and resampling touches only
the training part of each fold. Duplicate groups stay in one fold.

What the budget or the table's size traded away is said in :attr:`TrainResult.notes`.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.metrics import check_scoring

from nblib.common.jsonsafe import jsonable
from nblib.ml.training.cv import ChosenModel, CVResult, adapt_folds, build_pipeline, default_scoring, make_splitter
from nblib.ml.training.families import FAMILY_COST  # cheaper families are cross-validated first

__all__ = [
    "Budget",
    "TrainResult",
    "train",
    "grow_boosting",
    "keep_forest_samples",
    "GROWN_MAX_ITER",
    "cross_validate_oof",
    "FoldScores",
    "threshold_line",
    "FAMILY_COST",
    "INNER_FOLDS",
    "choose_model",
]

#: Inner folds of a nested search (fewer when the outer CV has fewer folds or the rarest class is too small).
INNER_FOLDS = 3


class Budget:
    """Seconds left of ``limit`` (None: no limit), counted from creation."""

    def __init__(self, limit: float | None):
        self.limit = limit
        self.started = time.perf_counter()

    @property
    def spent(self) -> float:
        return time.perf_counter() - self.started

    def left(self) -> float | None:
        return None if self.limit is None else max(0.0, self.limit - self.spent)

    def exhausted(self, reserve: float = 0.0) -> bool:
        left = self.left()
        return left is not None and left <= reserve

    def short(self, seconds: float) -> bool:
        """Whether work of ``seconds`` would overrun the limit (never without one).

        >>> Budget(None).short(1e9), Budget(60).short(1.0), Budget(60).short(120.0)
        (False, False, True)
        """
        left = self.left()
        return left is not None and seconds > left


@dataclass
class TrainResult:
    """Everything the training stage decided, JSON-ready through :meth:`to_dict`."""

    cv: CVResult
    model: Any = None
    oof: dict[str, np.ndarray] = field(default_factory=dict)
    searches: dict[str, Any] = field(default_factory=dict)
    ensemble: Any = None
    threshold: Any = None
    imbalance: pd.DataFrame | None = None
    curves: pd.DataFrame | None = None
    learning_curve: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    screened_rows: int | None = None
    trained_rows: int | None = None
    seconds: float = 0.0

    @property
    def chosen(self) -> ChosenModel | None:
        """The saved model's record (see :func:`choose_model`)."""
        return self.cv.chosen

    def to_dict(self) -> dict[str, Any]:
        out = self.cv.to_dict()
        out["notes"] = list(dict.fromkeys(self.cv.notes + self.notes))
        out["seconds"] = round(self.seconds, 2)
        out["screened_rows"] = self.screened_rows
        out["trained_rows"] = self.trained_rows
        out["search"] = {name: r.to_dict() for name, r in self.searches.items()}
        out["ensemble"] = self.ensemble.to_dict() if self.ensemble is not None else None
        out["threshold"] = self.threshold.to_dict() if self.threshold is not None else None
        out["imbalance"] = _records(self.imbalance)
        out["curves"] = _records(self.curves)
        out["learning_curve"] = _records(self.learning_curve)
        return out


class FoldScores(NamedTuple):
    """What :func:`cross_validate_oof` measured: per-fold held-out scores, mean fit seconds, out-of-fold
    predictions, and per fold the score on its own training part (when asked) and the fit seconds."""

    scores: list[float]
    fit_seconds: float
    oof: np.ndarray
    train_scores: list[float] | None
    fold_seconds: list[float]


def cross_validate_oof(
    pipe,
    X: pd.DataFrame,
    y: pd.Series,
    folds: list[tuple[np.ndarray, np.ndarray]],
    *,
    scoring: str,
    task: str,
    n_jobs: int | None = None,
    train_scores: bool = False,
    memory: Any = None,
) -> FoldScores:
    """Per-fold scores, mean fit seconds and out-of-fold predictions of ``pipe``.

    Out-of-fold predictions are the positive-class probability (two classes), a
    probability matrix (three or more) or the prediction (regression). ``pipe`` may be
    a list of one pipeline per fold (the settings a nested search chose on that fold).
    ``train_scores`` also scores each fold's model on its own training part (the largest
    point of a learning curve, which then needs no refit). ``memory`` (a folder or
    :class:`joblib.Memory`) is given to each fold's pipeline, so families whose features
    are the same fit them once per fold.
    """
    from joblib import Parallel, delayed

    pipes = pipe if isinstance(pipe, list) else [pipe] * len(folds)  # one per fold: nested search
    results = Parallel(n_jobs=n_jobs)(
        delayed(_fit_fold)(_with_memory(clone(p), memory), X, y, train, test, scoring, task, train_scores)
        for p, (train, test) in zip(pipes, folds, strict=True)
    )
    n_classes = int(pd.Series(np.asarray(y)).nunique()) if task == "classification" else 1
    oof = np.zeros((len(y), n_classes)) if n_classes > 2 else np.zeros(len(y))
    for (_, test), r in zip(folds, results, strict=True):
        oof[test] = r[2]
    seconds = [r[1] for r in results]
    on_train = [r[3] for r in results] if train_scores else None
    return FoldScores([r[0] for r in results], float(np.mean(seconds)), oof, on_train, seconds)


def train(
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
    imbalance: dict[str, Any] | None = None,
    search: dict[str, Any] | None = None,
    ensemble: str = "none",
    ensemble_top_k: int = 3,
    threshold: dict[str, Any] | None = None,
    time_budget_s: float | None = None,
    screen_rows: int | None = 20_000,
    max_rows: int | None = None,
    learning_curve: bool = True,
    tensorboard_dir: str | None = None,
    groups: pd.Series | None = None,
    random_state: int = 0,
    n_jobs: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train under a budget; see the module docstring.

    Parameters
    ----------
    X, y : training rows only (class codes for classification).
    features : unfitted feature transformer.
    models : family -> hyperparameters (``train.models``).
    imbalance : ``{"strategy", "compare", "gan_epochs"}`` (``imbalance`` params).
    search : ``{"method", "n_trials", "spaces"}`` (``train.search`` params).
    ensemble : {"none", "selection", "voting", "stacking", "both"}
    threshold : ``{"by", "fixed", "cost"}`` (binary classification).
    time_budget_s : cap for the whole call; families not started when it runs out are skipped.
    screen_rows : families are compared (and searched) on at most this many rows; the winner is
        refit on all of them.
    max_rows : train on at most this many rows at all: with more, on a stratified (group-aware),
        seeded sample of them, which a note states (``None``: every training row).
    tensorboard_dir : where the final refit of a neural net writes TensorBoard event files.
    """
    say = progress or (lambda text: None)
    budget = Budget(time_budget_s)
    imbalance = imbalance or {}
    search = search or {}
    notes: list[str] = []
    n_classes = int(pd.Series(np.asarray(y)).nunique()) if task == "classification" else 0
    scoring = scoring or default_scoring(task, n_classes)
    grouped = groups is not None and pd.Series(np.asarray(groups)).nunique() < len(y)
    total, index = len(X), X.index
    X, y, _, sampled = _screen(X, y, groups if grouped else None, max_rows, task, random_state)
    if sampled:
        kept = index.get_indexer(X.index)
        groups = None if groups is None else pd.Series(np.asarray(groups)[kept], index=X.index)
        notes.append(
            f"trained on a stratified, seeded sample of {len(X):,} of the {total:,} training rows (train.max_rows); "
            f"the other rows were not used"
        )
    Xs, ys, gs, screened = _screen(X, y, groups if grouped else None, screen_rows, task, random_state)
    if screened:
        notes.append(
            f"families compared on {len(Xs):,} of {len(X):,} training rows (train.screen_rows); "
            f"the winner is refit on all of them"
        )
    folds_n, note = adapt_folds(ys, cv_folds, task=task, groups=gs)
    notes += [note] if note else []
    splitter = make_splitter(task, folds_n, random_state, grouped)
    folds = list(splitter.split(Xs, ys, None if gs is None else np.asarray(gs)))
    cv = CVResult(scoring=scoring, folds=folds_n, grouped=grouped)
    result = TrainResult(cv=cv, notes=notes, screened_rows=len(Xs) if screened else None, trained_rows=len(X))

    strategy = imbalance.get("strategy", "none")
    pipelines: dict[str, Any] = {}
    fold_pipelines: dict[str, list[Any]] = {}
    fold_runs: dict[str, FoldScores] = {}
    # families that see the same features (linear and forest ones the sparse set, boosting ones the dense
    # set) fit them once per fold: scikit-learn's Pipeline(memory=...) keeps each fold's fitted feature
    # steps, keyed by their settings and rows, in a folder that lives as long as this loop
    with tempfile.TemporaryDirectory(prefix="nblib-features-") as cache:
        order = sorted(models, key=lambda name: (FAMILY_COST.get(name, 5), name))
        for i, name in enumerate(order):
            if cv.scores and budget.exhausted():
                skipped = order[i:]
                notes.append(f"time budget ({time_budget_s:g} s) spent: {', '.join(skipped)} not tried")
                break
            pipe = _pipeline(
                features, name, task, models[name], svd_components, class_weight, strategy, imbalance, random_state
            )
            scored = pipe
            if search.get("method", "none") != "none":
                pipe, scored = _nested_search(
                    result,
                    pipe,
                    name,
                    task,
                    search,
                    Xs,
                    ys,
                    gs,
                    folds,
                    grouped,
                    scoring,
                    budget,
                    n_jobs,
                    random_state,
                    say,
                )
                fold_pipelines[name] = scored
            say(f"{name}: cross-validating ({folds_n} folds)")
            run = cross_validate_oof(
                scored,
                Xs,
                ys,
                folds,
                scoring=scoring,
                task=task,
                n_jobs=n_jobs,
                train_scores=learning_curve,
                memory=cache,
            )
            scores = run.scores
            cv.scores[name], cv.fit_seconds[name] = scores, run.fit_seconds
            result.oof[name], pipelines[name], fold_runs[name] = run.oof, pipe, run
            best = max(cv.scores, key=lambda n: np.mean(cv.scores[n]))
            lead = f"best so far {best} {np.mean(cv.scores[best]):.4f}"
            say(
                f"{name}: {np.mean(scores):.4f} ± {np.std(scores):.4f}; {lead}"
                + (f"; {budget.left():.0f} s left" if budget.limit else "")
            )
    cv.best_model = max(cv.scores, key=lambda n: np.mean(cv.scores[n]))
    winner, final = cv.best_model, pipelines[cv.best_model]

    if ensemble != "none" and len(pipelines) >= 2 and not budget.exhausted():
        winner, final = _ensembles(
            result,
            pipelines,
            folds,
            ys,
            Xs,
            gs,
            task,
            scoring,
            ensemble,
            ensemble_top_k,
            n_jobs,
            random_state,
            say,
            fold_pipelines,
        )
    elif ensemble != "none":
        notes.append(
            "ensembles not evaluated: "
            + ("the time budget was spent" if len(pipelines) >= 2 else "only one family was cross-validated")
        )
    cv.chosen = choose_model(cv, result.ensemble, searched=set(result.searches))
    say(f"chosen: {cv.chosen.label}, CV {cv.chosen.cv_mean:.4f} ± {cv.chosen.cv_std:.4f} ({cv.chosen.cv_note})")
    say(f"refitting {winner} on {len(X):,} rows")
    started = time.perf_counter()
    final = clone(final)
    if screened:
        refit = _refit_estimate(cv, winner, result.ensemble, len(X) / len(Xs))  # seconds, at the compared rounds
        factor = _growth(len(X) / len(Xs), refit, budget)
        grown = grow_boosting(final, factor) if factor >= 1.5 else []
        if grown:
            notes.append(
                f"families were compared on {len(Xs):,} rows; on all {len(X):,} the boosting members "
                f"({', '.join(grown)}) may grow up to {factor:.1f}x the rounds, stopped early on 10% of the rows "
                f"held out"
            )
        elif factor < len(X) / len(Xs):
            notes.append(
                "the boosting members were refit with the rounds they were compared with: growing them on "
                "all rows would not fit in the time budget"
            )
        forests = keep_forest_samples(final, int(len(Xs) * (folds_n - 1) / folds_n)) if budget.short(refit) else []
        if forests:
            notes.append(
                f"forest members ({', '.join(forests)}) draw each tree from as many rows as in the comparison "
                f"(max_samples): their refit on all {len(X):,} rows (about {refit:.0f} s) would not fit in the "
                f"time budget left, so it costs about one comparison fit instead"
            )
    from nblib.ml.training.nn import fit_logged  # the event files of this fit; the model keeps no run path

    model = fit_logged(final, X, y, tensorboard_dir or None)
    cv.refit_seconds = time.perf_counter() - started

    if task == "classification" and n_classes == 2 and threshold:
        from nblib.ml.training.threshold import choose_threshold, with_threshold

        oof = result.oof.get(winner)
        if oof is None and result.ensemble is not None:
            oof = getattr(result.ensemble, "oof", {}).get(winner)
        if oof is not None:
            result.threshold = choose_threshold(
                ys, oof, by=threshold.get("by", "f1"), fixed=threshold.get("fixed", 0.5), cost=threshold.get("cost")
            )
            model = with_threshold(model, result.threshold.threshold)
    result.model = model

    if imbalance.get("compare") and task == "classification" and not budget.exhausted():
        from nblib.ml.training.imbalance import STRATEGIES, compare_strategies

        say(f"comparing imbalance strategies on {cv.best_model}")
        best = pipelines[cv.best_model]
        result.imbalance = compare_strategies(
            best.named_steps["features"],
            lambda: _model_of(best),
            Xs,
            ys,
            strategies=[s for s in STRATEGIES if s != "gan" or strategy == "gan"],
            cv=splitter,
            scoring=scoring,
            groups=None if gs is None else np.asarray(gs),
            n_jobs=n_jobs,
            random_state=random_state,
            gan_epochs=imbalance.get("gan_epochs", 100),
        )

    from nblib.ml.training.curves import iteration_curves, learning_curve_frame

    result.curves = iteration_curves(model)
    # the curve asks "would more rows help?"; the best single family answers it at a fraction of an
    # ensemble's cost (every member refit 9 times), and the page names the family it was drawn for
    lc_name = cv.best_model
    reusable = lc_name not in fold_pipelines  # a nested search scored other settings on each fold
    lc_cost = _learning_curve_cost(cv, lc_name, n_jobs, refit_whole=not reusable)
    if learning_curve and budget.limit is not None and lc_cost > (budget.left() or 0.0):
        notes.append(
            f"learning curve skipped: it would take about {lc_cost:.0f} s and "
            f"{budget.left():.0f} s of the time budget ({time_budget_s:g} s) is left"
        )
    elif learning_curve and not budget.exhausted(reserve=5.0):
        say(f"learning curve of {lc_name}")
        run = fold_runs[lc_name]
        result.learning_curve = learning_curve_frame(
            pipelines[lc_name],
            Xs,
            ys,
            cv=folds[:3],  # 3 sizes × 3 of the CV's folds; the whole training parts were fitted by the CV
            scoring=scoring,
            n_jobs=n_jobs,
            random_state=random_state,
            full_fits={"train_score": run.train_scores, "valid_score": run.scores, "fit_seconds": run.fold_seconds}
            if reusable
            else None,
        ).assign(model=lc_name)
    elif learning_curve:
        notes.append("learning curve skipped: the time budget was spent")
    result.seconds = budget.spent
    return result


def choose_model(cv: CVResult, ensemble=None, *, searched: set[str] | frozenset[str] = frozenset()) -> ChosenModel:
    """The record of the model that is saved: the ensemble's winner when ensembles were evaluated, else the
    best single family, with the CV of *that* model and which CV it is.

    Parameters
    ----------
    cv : CVResult
        Per-family fold scores, ``best_model`` (best single family) and ``cv_notes``.
    ensemble : EnsembleResult, optional
        From :func:`nblib.ml.training.ensembles.evaluate_ensembles`; its ``winner`` may be ``"voting"``
        or ``"stacking"``.
    searched : set of str
        Families whose hyperparameters were searched.
    """
    if not cv.scores:
        raise ValueError("no family was cross-validated: nothing to choose")
    winner = ensemble.winner if ensemble is not None else cv.best_model
    if winner in cv.scores:
        scores = cv.scores[winner]
        return ChosenModel(
            name=winner,
            kind="single",
            cv_mean=float(np.mean(scores)),
            cv_std=float(np.std(scores)),
            cv_scores=[float(v) for v in scores],
            searched=winner in searched,
            cv_note=cv.cv_note(winner),
            scoring=cv.scoring,
            folds=cv.folds,
        )
    members = list(ensemble.members)
    scores = ensemble.scores[winner]
    searched_members = [m for m in members if m in searched]
    how = {
        "voting": "soft average of the members' out-of-fold predictions",
        "selection": "the members' out-of-fold predictions weighted as chosen on the other folds only",
        "stacking": "the stacking refit on each outer training fold",
    }[winner]
    note = f"{cv.folds}-fold CV on the same folds as the families ({how})"
    if searched_members:
        note += (
            f"; searched members ({', '.join(searched_members)}) use the settings their search chose on "
            f"each outer training fold only (nested)"
        )
    return ChosenModel(
        name=winner,
        kind=winner,
        cv_mean=float(np.mean(scores)),
        cv_std=float(np.std(scores)),
        cv_scores=[float(v) for v in scores],
        members=members,
        searched=bool(searched_members),
        cv_note=note,
        scoring=cv.scoring,
        folds=cv.folds,
    )


def threshold_line(choice) -> str:
    """One sentence on the chosen decision threshold and what it changes against 0.5."""
    d = choice.to_dict()
    chosen, default = d.get("at_threshold") or {}, d.get("at_default") or {}
    line = f"threshold {d['threshold']:.3f} ({d['by']}, on out-of-fold training predictions)"
    if "f1" in chosen and "f1" in default:
        line += f": F1 {chosen['f1']:.3f} against {default['f1']:.3f} at 0.5"
    return line


# --------------------------------------------------------------------------- helpers


#: Most rounds a boosting member may grow to when refit on more rows than it was compared on.
GROWN_MAX_ITER = 2000


def grow_boosting(model, ratio: float) -> list[str]:
    """Let the histogram gradient boosting inside ``model`` (a pipeline, or a voting ensemble of them)
    grow with the rows: ``max_iter`` scaled by ``ratio`` (at most :data:`GROWN_MAX_ITER`) and early
    stopping on a held-out 10 %, so a booster compared on a sample is not underfit on all rows. Changes
    ``model`` in place (call it on a clone); returns the members it changed.

    >>> from sklearn.ensemble import HistGradientBoostingRegressor
    >>> booster = HistGradientBoostingRegressor(max_iter=300, early_stopping=False)
    >>> grow_boosting(booster, 4.0), booster.max_iter, booster.early_stopping
    (['HistGradientBoostingRegressor'], 1200, True)
    """
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    grown = []
    for name, estimator in _estimators(model):
        if isinstance(estimator, (HistGradientBoostingClassifier, HistGradientBoostingRegressor)):
            rounds = int(min(GROWN_MAX_ITER, max(estimator.max_iter, round(estimator.max_iter * ratio))))
            estimator.set_params(
                max_iter=rounds,
                early_stopping=True,
                validation_fraction=0.1,
                n_iter_no_change=max(20, estimator.n_iter_no_change),
            )
            grown.append(name)
    return grown


def keep_forest_samples(model, rows: int) -> list[str]:
    """Bootstrapped forests inside ``model`` draw each tree from the number of rows they drew in the
    comparison (``max_samples`` × ``rows``, the rows of a CV training part), not a share of all rows:
    a forest's refit on a big table then costs about one comparison fit instead of growing with it.
    Changes ``model`` in place (call it on a clone); returns the members it changed.

    >>> from sklearn.ensemble import RandomForestClassifier
    >>> forest = RandomForestClassifier(max_samples=0.5)
    >>> keep_forest_samples(forest, 16_000), forest.max_samples
    (['RandomForestClassifier'], 8000)
    """
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    kept = []
    for name, estimator in _estimators(model):
        if isinstance(estimator, (RandomForestClassifier, RandomForestRegressor)) and estimator.bootstrap:
            share = estimator.max_samples
            if share is None or isinstance(share, float):
                estimator.set_params(max_samples=max(1, int(round((1.0 if share is None else share) * rows))))
                kept.append(name)
    return kept


def _estimators(model, name: str | None = None):
    """(name, final estimator) pairs inside an unfitted pipeline, voting or stacking ensemble (a forest's
    own ``estimator``, its tree template, is not walked into)."""
    if hasattr(model, "steps"):
        yield from _estimators(model.steps[-1][1], name)
    elif hasattr(model, "estimators") and isinstance(model.estimators, list):
        for member, estimator in model.estimators:
            yield from _estimators(estimator, member)
    else:
        yield name or type(model).__name__, model


def _refit_estimate(cv: CVResult, winner: str, ensemble, ratio: float) -> float:
    """Seconds one refit of the chosen model on all rows should take: its members' fold fits, scaled by rows."""
    members = list(ensemble.weights or ensemble.members) if winner not in cv.fit_seconds and ensemble else [winner]
    return ratio * sum(cv.fit_seconds.get(m, 0.0) for m in members)


def _growth(ratio: float, refit_seconds: float, budget: Budget) -> float:
    """How many times more boosting rounds the refit on all rows may grow (at most ``ratio``, the rows'
    growth): as many as the time budget left allows for a refit that takes ``refit_seconds`` at 1x."""
    if budget.limit is None or refit_seconds <= 0:
        return ratio
    return float(min(ratio, max(1.0, (budget.left() or 0.0) / refit_seconds)))


def _learning_curve_cost(cv: CVResult, name: str, n_jobs, *, refit_whole: bool = False) -> float:
    """Seconds the learning curve should take: 3 folds × the 0.2 + 0.5 shares of one fold fit of family
    ``name`` (and the whole training part when ``refit_whole``: the CV's own fits are not reusable),
    over the parallel workers."""
    from joblib import effective_n_jobs

    shares = 0.7 + (1.0 if refit_whole else 0.0)
    return 3 * shares * cv.fit_seconds.get(name, 0.0) / max(1, min(3, effective_n_jobs(n_jobs)))


def _with_memory(pipe, memory):
    """``pipe`` caching its fitted feature steps in ``memory`` (a pipeline; anything else as it is)."""
    if memory is not None and "memory" in pipe.get_params(deep=False):
        pipe.set_params(memory=memory)
    return pipe


def _fit_fold(pipe, X, y, train, test, scoring, task, train_score=False):
    started = time.perf_counter()
    pipe.fit(X.iloc[train], y.iloc[train])
    seconds = time.perf_counter() - started
    scorer = check_scoring(pipe, scoring=scoring)
    score = scorer(pipe, X.iloc[test], y.iloc[test])
    on_train = float(scorer(pipe, X.iloc[train], y.iloc[train])) if train_score else None
    if task == "classification":
        proba = pipe.predict_proba(X.iloc[test])
        pred = proba[:, 1] if proba.shape[1] == 2 else proba
    else:
        pred = pipe.predict(X.iloc[test])
    return float(score), seconds, pred, on_train


def _screen(X, y, groups, screen_rows, task, random_state):
    """A stratified (group-aware) subsample of at most ``screen_rows`` rows (for comparing families, or
    ``train.max_rows`` for training at all)."""
    if not screen_rows or len(X) <= screen_rows:
        return X, y, groups, False
    from sklearn.model_selection import GroupShuffleSplit, train_test_split

    if groups is not None:
        splitter = GroupShuffleSplit(n_splits=1, train_size=screen_rows / len(X), random_state=random_state)
        keep, _ = next(splitter.split(X, y, np.asarray(groups)))
    else:
        keep, _ = train_test_split(
            np.arange(len(X)),
            train_size=screen_rows,
            random_state=random_state,
            stratify=y if task == "classification" else None,
        )
    keep = np.sort(keep)
    return X.iloc[keep], y.iloc[keep], None if groups is None else groups.iloc[keep], True


def _pipeline(features, name, task, hyper, svd_components, class_weight, strategy, imbalance, random_state):
    resampled = task == "classification" and strategy not in ("none", "class_weight")
    pipe = build_pipeline(
        features,
        name,
        task,
        hyper,
        svd_components=svd_components,
        random_state=random_state,
        class_weight=class_weight,
        native_categorical=not resampled,  # a resampler interpolates rows: codes would become fractions
    )
    if task != "classification" or strategy in ("none", "class_weight"):
        return pipe
    from nblib.ml.training.imbalance import training_pipeline

    return training_pipeline(
        pipe.named_steps["features"],
        pipe.named_steps["model"],
        strategy,
        task=task,
        random_state=random_state,
        gan_epochs=imbalance.get("gan_epochs", 100),
    )


def _model_of(pipe):
    return clone(pipe.named_steps["model"])


def _nested_search(
    result, pipe, name, task, search, X, y, groups, folds, grouped, scoring, budget, n_jobs, random_state, say
):
    """Search ``name`` on every outer training fold (nested CV) and once on all rows.

    Returns the pipeline with the all-rows settings (what is refit) and one pipeline per outer
    fold with the settings its own search chose (what that fold scores). The family's share of
    the time budget (half of what is left) is split evenly over the searches still to run.
    """
    from nblib.ml.training.search import search_family
    from nblib.ml.training.spaces import space_for

    method = search["method"]
    space = space_for(name, task, (search.get("spaces") or {}).get(name))
    left = budget.left()
    share = None if left is None else left / 2  # leave time for the families after this one
    started = time.perf_counter()
    parts = [
        *[(train, f"outer fold {k + 1}/{len(folds)}") for k, (train, _) in enumerate(folds)],
        (np.arange(len(y)), "all rows"),
    ]
    chosen, inner_used, cut = [], set(), 0
    for i, (rows, where) in enumerate(parts):
        Xi, yi = X.iloc[rows], y.iloc[rows]
        gi = None if groups is None else groups.iloc[rows]
        inner, _ = adapt_folds(yi, min(INNER_FOLDS, len(folds)), task=task, groups=gi)
        inner_used.add(inner)
        each = None if share is None else max(0.0, share - (time.perf_counter() - started)) / (len(parts) - i)
        say(f"{name}: {method} search on {where} ({inner}-fold inner CV)")
        found = search_family(
            pipe,
            Xi,
            yi,
            family=name,
            task=task,
            method=method,
            n_trials=search.get("n_trials", 20),
            space=space,
            cv=make_splitter(task, inner, random_state, grouped),
            scoring=scoring,
            groups=None if gi is None else np.asarray(gi),
            n_jobs=n_jobs,
            random_state=random_state,
            time_budget_s=each,
            progress=say,
        )
        cut += bool(found.cut_short)
        chosen.append(clone(pipe).set_params(**{f"model__{k}": v for k, v in found.best_params.items()}))
    result.searches[name] = found  # the all-rows search: its settings are refit
    if cut:
        result.notes.append(
            f"{name}: the time budget cut {cut} of its {len(parts)} {method} searches short "
            f"(the all-rows search after {len(found.trials)} trials)"
        )
    inner_text = "/".join(str(n) for n in sorted(inner_used))
    result.cv.cv_notes[name] = (
        f"nested CV: the {method} search re-run on each of the {len(folds)} outer training "
        f"folds ({inner_text}-fold inner CV), scored on the outer fold it never saw"
        + (", duplicate groups kept in one fold" if grouped else "")
    )
    return chosen[-1], chosen[:-1]


def _ensembles(
    result, pipelines, folds, y, X, groups, task, scoring, kind, top_k, n_jobs, random_state, say, fold_pipelines=None
):
    from nblib.ml.training.ensembles import evaluate_ensembles

    say(f"ensembles ({kind}) of the top {top_k}")
    found = evaluate_ensembles(
        pipelines,
        result.cv.scores,
        result.oof,
        folds,
        y,
        task=task,
        scoring=scoring,
        kind=kind,
        top_k=top_k,
        n_jobs=n_jobs,
        random_state=random_state,
        X=X,
        groups=None if groups is None else np.asarray(groups),
        fold_pipelines=fold_pipelines,
    )
    result.ensemble = found
    if found.winner in pipelines:
        return found.winner, pipelines[found.winner]
    return found.winner, found.build(found.winner)


def _records(frame: pd.DataFrame | None) -> list[dict[str, Any]] | None:
    if frame is None:
        return None
    return jsonable(frame.reset_index(drop=frame.index.name is None).to_dict("records"))
