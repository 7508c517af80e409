"""Hyperparameter search within one model family, under a time budget.

:func:`search_family` searches a space from :mod:`nblib.ml.training.spaces` with one of

* ``grid``: every point of :func:`nblib.ml.training.spaces.grid_of` (scikit-learn's ``GridSearchCV``);
* ``random``: ``n_trials`` seeded draws (``ParameterSampler``, what ``RandomizedSearchCV`` draws);
* ``bayes``: Optuna's TPE sampler, seeded, asked for :data:`BAYES_BATCH` trials at a time (run
  side by side in up to ``n_jobs`` threads, told back in order, so ``n_jobs`` changes no result);
  each trial is cross-validated fold by fold, the running mean is reported after each fold and a
  ``MedianPruner`` stops hopeless trials;
* ``halving``: successive halving over ``n_trials`` seeded candidates, as scikit-learn's
  ``HalvingRandomSearchCV`` does it (factor 3, the resource is training rows, the last
  round on whole training folds).

Every method cross-validates on the same folds, split once from ``cv`` (with ``groups``),
so trials compare fairly and a group never straddles train and held-out rows. Grid,
random and halving candidates run in chunks of ``n_jobs`` through ``GridSearchCV``
(candidates x folds in parallel); between chunks the time budget is checked, so a
search stops starting new trials once it is spent (for bayes, before each trial).
Scores are "greater is better" (scikit-learn scorers). With a fixed ``random_state`` every
method gives the same trials, scores and best settings whatever ``n_jobs`` is (unless the time
budget cuts it short).
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from nblib.common.jsonsafe import jsonable
from nblib.ml.evaluation.plots import label

__all__ = [
    "BAYES_BATCH",
    "METHODS",
    "SearchResult",
    "plot_history",
    "plot_param_importance",
    "plot_score_vs_time",
    "search_family",
]

#: Search methods by params name (``train.search.method``).
METHODS = ("grid", "random", "bayes", "halving")
#: Bayes trials sampled together before any of them is told back: fixed, not ``n_jobs``, so that
#: ``n_jobs`` changes no result (at most this many bayes trials run at once).
BAYES_BATCH = 4

_BLUE, _ORANGE, _GREY = "#1f77b4", "#ff7f0e", "#8c959f"
_FIXED_COLUMNS = ("trial", "mean", "std", "fit_seconds", "elapsed_s", "state")


@dataclass
class SearchResult:
    """What one family's search found.

    Attributes
    ----------
    family, method : str
    best_params : dict
        Hyperparameter names without the ``model__`` prefix.
    best_score, best_std : float
        Mean and standard deviation over the CV folds of the best trial (NaN if none completed).
    trials : DataFrame
        One row per trial: ``trial``, one column per hyperparameter, ``mean``, ``std``,
        ``fit_seconds`` (summed over folds), ``elapsed_s`` (since the search began, when the
        trial ended), ``state`` (``complete``, ``pruned`` or ``failed``); halving adds
        ``rounds`` and ``rows`` (training rows per fit in the trial's last round). A pruned
        trial's ``mean`` is over the folds (bayes) or rows (halving) it got before it was stopped.
    cut_short : bool
        The time budget stopped the search before all trials ran.
    seconds : float
        Wall time of the search.
    n_fits : int
        Model fits, over all trials and folds.
    study : optuna.Study or None
        The Optuna study (bayes only); not part of :meth:`to_dict`.
    """

    family: str
    method: str
    best_params: dict[str, Any]
    best_score: float
    best_std: float
    trials: pd.DataFrame
    cut_short: bool = False
    seconds: float = 0.0
    n_fits: int = 0
    study: Any = field(default=None, repr=False, compare=False)
    scoring: str = ""

    def shown_trials(self) -> pd.DataFrame:
        """The trials with ``mean`` as the metric itself (RMSE positive), best first."""
        from nblib.ml.evaluation.scoring import shown_frame

        return shown_frame(self.trials, self.scoring)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN as None, tuples as lists, numpy scalars as Python numbers."""
        return {
            "family": self.family,
            "method": self.method,
            "scoring": self.scoring,
            "best_params": {k: _plain(v) for k, v in self.best_params.items()},
            "best_score": _plain(self.best_score),
            "best_std": _plain(self.best_std),
            "cut_short": bool(self.cut_short),
            "seconds": round(float(self.seconds), 3),
            "n_fits": int(self.n_fits),
            "n_trials": len(self.trials),
            "trials": [{k: _plain(v) for k, v in row.items()} for row in self.trials.to_dict("records")],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchResult:
        """The record :meth:`to_dict` wrote (``cv_results.json["search"][family]``); a missing key raises
        :class:`~nblib.ml.evaluation.records.RecordError` naming it. ``n_trials`` is derived."""
        from nblib.ml.evaluation.records import require_keys

        require_keys(
            data,
            ("family", "method", "best_params", "best_score", "best_std", "trials"),
            f"search result {data.get('family', '?') if isinstance(data, dict) else '?'}",
        )
        trials = pd.DataFrame.from_records(data["trials"]).astype(object) if data["trials"] else pd.DataFrame()
        for column in ("mean", "std", "fit_seconds", "elapsed_s"):
            if column in trials:
                trials[column] = pd.to_numeric(trials[column], errors="coerce").astype(float)
        nan = float("nan")
        return cls(
            family=str(data["family"]),
            method=str(data["method"]),
            best_params=dict(data["best_params"]),
            best_score=nan if data["best_score"] is None else float(data["best_score"]),
            best_std=nan if data["best_std"] is None else float(data["best_std"]),
            trials=trials,
            cut_short=bool(data.get("cut_short")),
            seconds=float(data.get("seconds") or 0.0),
            n_fits=int(data.get("n_fits") or 0),
            scoring=str(data.get("scoring") or ""),
        )


def search_family(
    pipeline,
    X,
    y,
    *,
    family: str,
    task: str,
    method: str,
    n_trials: int,
    space: dict[str, Any],
    cv,
    scoring: str,
    groups=None,
    n_jobs: int | None = None,
    random_state: int = 0,
    time_budget_s: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> SearchResult:
    """Search ``space`` for the hyperparameters of ``pipeline``'s ``model`` step.

    Parameters
    ----------
    pipeline : Pipeline
        Unfitted scikit-learn or imbalanced-learn pipeline whose last step is named ``model``.
    X, y : training rows only.
    family : str
        The family's name, for messages and the result.
    task : {"classification", "regression"}
    method : {"grid", "random", "bayes", "halving"}
    n_trials : int
        Trials (random, bayes) or candidates of the first round (halving); grid ignores it.
    space : dict
        From :func:`nblib.ml.training.spaces.space_for`.
    cv : splitter or int
        A scikit-learn splitter (an int means (Stratified)KFold); split once, with ``groups``.
    scoring : str
        A scikit-learn scorer name (greater is better).
    groups : array-like, optional
        Group of each row; passed to the splitter.
    n_jobs : int, optional
        Parallel fits (candidates x folds); for bayes, the trials of a batch in threads. It
        changes the speed, not the result: a fixed ``random_state`` gives the same trials.
    random_state : int, default=0
        Seeds the sampling of candidates, the TPE sampler and halving's subsamples.
    time_budget_s : float, optional
        No new trial starts once this many seconds have passed (``cut_short`` is then True).
    progress : callable, optional
        Called with one short line after each trial.

    Returns
    -------
    SearchResult
    """
    if method not in METHODS:
        raise ValueError(f"train.search.method {method!r} is not a search method; choose from {list(METHODS)}")
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1; got {n_trials}")
    if not space:
        raise ValueError(f"{family}: the search space is empty")
    from sklearn.model_selection import check_cv

    run = _Run(family, method, time_budget_s, progress, n_jobs)
    splitter = check_cv(cv, y, classifier=task == "classification")
    folds = [(np.asarray(tr), np.asarray(te)) for tr, te in splitter.split(X, y, groups)]
    if method == "bayes":
        study = _bayes(run, pipeline, X, y, folds, space, n_trials, scoring, random_state)
    else:
        study = None
        if method == "grid":
            from sklearn.model_selection import ParameterGrid

            candidates = list(ParameterGrid(_lists_for_grid(space)))
        else:
            candidates = _sample(space, n_trials, random_state)
        if method == "halving":
            _halving(run, pipeline, X, y, folds, candidates, scoring, task, random_state)
        else:
            run.total = len(candidates)
            _evaluate(run, pipeline, X, y, folds, candidates, scoring)
    result = run.result(list(space), study)
    result.scoring = str(scoring)
    return result


# --------------------------------------------------------------------------- plots


def plot_history(trials: pd.DataFrame, title: str = "Search history", scoring: str = "") -> Figure:
    """Score of each trial (pruned and failed ones in grey) and the best so far, as the metric
    itself (``scoring`` ``neg_root_mean_squared_error`` is drawn as a positive RMSE, best = lowest)."""
    from nblib.ml.evaluation.scoring import shown_scoring

    name, sign = shown_scoring(scoring)
    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.subplots()
    frame = trials.reset_index(drop=True)
    x = np.arange(1, len(frame) + 1)
    done = (frame["state"] == "complete").to_numpy()
    shown = sign * frame["mean"]
    ax.scatter(x[done], shown[done], s=18, color=_BLUE, label="trial (CV mean)")
    if (~done).any():
        ax.scatter(x[~done], shown[~done], s=14, color=_GREY, marker="x", label="pruned (partial mean)")
    best = sign * frame["mean"].where(done).cummax()
    ax.step(x, best, where="post", color=_ORANGE, label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"CV {label(name, 30)}" if name else "CV score")
    ax.set_title(label(title, 60))
    ax.legend(loc="lower right", fontsize=8)
    return fig


def plot_score_vs_time(results: list[SearchResult], x: str = "elapsed_s") -> Figure:
    """Best CV score so far against seconds, one line per family and method.

    Parameters
    ----------
    results : list of SearchResult
    x : {"elapsed_s", "fit_seconds"}
        Wall seconds since each search began, or fit seconds summed over its trials (compute).
    """
    from nblib.ml.evaluation.scoring import shown_scoring

    if x not in ("elapsed_s", "fit_seconds"):
        raise ValueError(f"x must be 'elapsed_s' or 'fit_seconds'; got {x!r}")
    fig = Figure(figsize=(6.4, 3.8), layout="constrained")
    ax = fig.subplots()
    for result in results:
        frame = result.trials
        if frame.empty:
            continue
        seconds = frame["elapsed_s"] if x == "elapsed_s" else frame["fit_seconds"].fillna(0).cumsum()
        order = np.argsort(seconds.to_numpy(), kind="stable")
        done = (frame["state"] == "complete").to_numpy()[order]
        sign = shown_scoring(result.scoring)[1]
        best = sign * pd.Series(frame["mean"].to_numpy()[order]).where(done).cummax()
        ax.step(
            seconds.to_numpy()[order],
            best,
            where="post",
            marker=".",
            label=f"{label(result.family, 30)} · {label(result.method, 12)}",
        )
    ax.set_xlabel("elapsed seconds" if x == "elapsed_s" else "fit seconds (summed over trials)")
    names = {shown_scoring(r.scoring)[0] for r in results if r.scoring}
    ax.set_ylabel(f"best CV {label(names.pop(), 30)} so far" if len(names) == 1 else "best CV score so far")
    ax.set_title("Search: best score against time")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=8)
    return fig


def plot_param_importance(trials: pd.DataFrame | SearchResult, study=None) -> Figure:
    """How much each hyperparameter mattered to the CV score.

    With an Optuna study (``study``, or a bayes :class:`SearchResult`), the importance is
    Optuna's fANOVA (``optuna.importance.get_param_importances``, seeded). Otherwise it is a
    simple variance-based share from the trials table: for each hyperparameter, the variance of
    the mean score between its values (numbers binned into quartiles) over the total variance of
    the completed trials' scores, normalized to sum to one. The title says which.
    """
    if isinstance(trials, SearchResult):
        study = study if study is not None else trials.study
        trials = trials.trials
    importances, how = None, "variance share over trials"
    if study is not None:
        importances = _fanova(study)
        how = "Optuna fANOVA" if importances is not None else how
    if importances is None:
        importances = _variance_importance(trials)
    fig = Figure(figsize=(6.4, max(1.8, 0.35 * len(importances) + 1.2)), layout="constrained")
    ax = fig.subplots()
    if not importances:
        ax.text(0.5, 0.5, "too few completed trials", ha="center", va="center")
        ax.set_axis_off()
        return fig
    names = sorted(importances, key=importances.get)
    ax.barh(range(len(names)), [importances[n] for n in names], color=_BLUE)
    ax.set_yticks(range(len(names)), [label(n) for n in names])
    ax.set_xlabel("importance (share)")
    ax.set_title(f"Hyperparameter importance ({how})")
    return fig


# --------------------------------------------------------------------------- the run


class _Run:
    """Clock, budget, trial rows and progress lines of one search.

    Only the thread that runs the search writes to it (worker threads return their results).
    """

    def __init__(self, family, method, budget, progress, n_jobs):
        self.family, self.method, self.budget, self.say = family, method, budget, progress
        self.n_jobs = n_jobs
        self.started = time.perf_counter()
        self.started_wall = time.time()
        self.rows: list[dict[str, Any]] = []
        self.total = 0
        self.n_fits = 0
        self.cut_short = False
        self.base, self.stage = 0, ""  # halving: where this round's rows begin, and its name

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def left(self) -> float | None:
        return None if self.budget is None else max(0.0, self.budget - self.elapsed())

    def spent(self) -> bool:
        return self.budget is not None and self.elapsed() >= self.budget

    def add(self, params, scores, fit_seconds, state, elapsed: float | None = None, **extra) -> None:
        scores = np.asarray(scores, dtype=float)
        finite = scores[np.isfinite(scores)]
        if state != "pruned" and len(finite) < len(scores):
            state = "failed"
        self.rows.append(
            {
                "trial": len(self.rows),
                **params,
                "mean": float(np.mean(finite)) if len(finite) else math.nan,
                "std": float(np.std(finite)) if len(finite) else math.nan,
                "fit_seconds": float(fit_seconds),
                "elapsed_s": self.elapsed() if elapsed is None else float(elapsed),
                "state": state,
                **extra,
            }
        )
        self.report()

    def report(self) -> None:
        if self.say is None:
            return
        done = [r["mean"] for r in self.rows[self.base :] if r["state"] == "complete" and np.isfinite(r["mean"])]
        line = f"{self.family}: {self.method} {self.stage}trial {len(self.rows) - self.base}/{self.total}"
        line += f", best {max(done):.4f}" if done else ""
        if self.budget is not None:
            line += f", {self.left():.0f} s left"
        self.say(line)

    def result(self, names, study) -> SearchResult:
        trials = pd.DataFrame(self.rows)
        if trials.empty:
            trials = pd.DataFrame(columns=["trial", *names, *_FIXED_COLUMNS[1:]])
        complete = trials[(trials["state"] == "complete") & trials["mean"].notna()]
        if self.method == "halving" and "rounds" in trials and not complete.empty:
            complete = complete[complete["rounds"] == complete["rounds"].max()]
        if complete.empty:
            if not self.cut_short and len(trials):
                raise ValueError(
                    f"{self.family}: every {self.method} trial failed or was pruned; "
                    f"see the warnings above, or narrow train.search.spaces.{self.family}"
                )
            best_params, best, std = {}, math.nan, math.nan
        else:
            row = complete.loc[complete["mean"].idxmax()]
            raw = self.rows[int(row["trial"])]  # the values as tried: a frame column of None and ints holds floats
            best_params = {n: _native(raw[n]) for n in names}
            best, std = float(row["mean"]), float(row["std"])
        return SearchResult(
            self.family, self.method, best_params, best, std, trials, self.cut_short, self.elapsed(), self.n_fits, study
        )


def _evaluate(run: _Run, pipeline, X, y, folds, candidates, scoring, **extra) -> list[dict]:
    """Cross-validate ``candidates`` in chunks of ``n_jobs`` through GridSearchCV; stop when the budget is spent."""
    from joblib import effective_n_jobs
    from sklearn.model_selection import GridSearchCV

    chunk = max(1, effective_n_jobs(run.n_jobs))
    rows = []
    for start in range(0, len(candidates), chunk):
        if run.spent():
            run.cut_short = True
            break
        part = candidates[start : start + chunk]
        search = GridSearchCV(
            pipeline,
            [{f"model__{k}": [v] for k, v in c.items()} for c in part],
            scoring=scoring,
            cv=folds,
            n_jobs=run.n_jobs,
            refit=False,
            error_score=np.nan,
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*fits failed.*")
            warnings.filterwarnings("ignore", message=".*test scores are non-finite.*")
            try:
                search.fit(X, y)
            except ValueError as exc:  # every fit of the chunk failed: failed trials, not a failed search
                if "fits failed" not in str(exc):
                    raise
                warnings.warn(
                    f"{run.family}: {len(part)} trial(s) failed on every fold: "
                    f"{str(exc).strip().splitlines()[-1][:300]}",
                    stacklevel=2,
                )
                for params in part:
                    run.n_fits += len(folds)
                    run.add(params, [math.nan] * len(folds), 0.0, "failed", **extra)
                    rows.append(run.rows[-1])
                continue
        res = search.cv_results_
        for i, params in enumerate(part):
            scores = [res[f"split{k}_test_score"][i] for k in range(len(folds))]
            run.n_fits += len(folds)
            run.add(params, scores, res["mean_fit_time"][i] * len(folds), "complete", **extra)
            rows.append(run.rows[-1])
    return rows


def _bayes(run: _Run, pipeline, X, y, folds, space, n_trials, scoring, random_state):
    """Optuna TPE, seeded, in batches of :data:`BAYES_BATCH` trials whatever ``n_jobs`` is.

    Each batch is asked for and sampled here, in order; its trials run side by side, each
    reporting its running CV mean fold by fold to a MedianPruner that reads only completed
    trials (all from earlier batches, handed to the trial as it starts); the results are told
    in the order they were asked. So the same seed gives the same trials for any ``n_jobs``,
    and wherever the trials run: in up to ``n_jobs`` threads here, or, when joblib's backend is
    Dask (``compute.backend: dask``), as Dask futures on the cluster's workers (the data
    scattered once). The study stays here; only this thread writes the rows and ``n_fits``.
    """
    import optuna
    from joblib import effective_n_jobs
    from sklearn.metrics import check_scoring

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=random_state),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0),
    )
    scorer = check_scoring(pipeline, scoring=scoring)
    run.total = n_trials
    client = dask_client()
    workers = max(1, min(BAYES_BATCH, effective_n_jobs(run.n_jobs)))
    with contextlib.ExitStack() as stack:
        if client is None:
            pool = stack.enter_context(ThreadPoolExecutor(max_workers=workers))
        else:
            data = client.scatter([X, y], hash=False)  # new keys on a retry (see nblib.engine.cluster)
        asked = 0
        while asked < n_trials and not run.cut_short:
            if run.spent():
                run.cut_short = True
                break
            batch = []
            for _ in range(min(BAYES_BATCH, n_trials - asked)):
                trial = study.ask()
                batch.append((trial, {name: _suggest(trial, name, spec) for name, spec in space.items()}))
            asked += len(batch)
            completed = study.get_trials(deepcopy=True, states=(optuna.trial.TrialState.COMPLETE,))
            # a trial that would start after the budget's end (wall clock: it may start on another machine) does not
            deadline = None if run.budget is None else run.started_wall + run.budget
            args = (folds, scorer, completed, study.pruner, deadline)
            if client is None:
                outcomes = [f.result() for f in [pool.submit(_bayes_trial, pipeline, X, y, p, *args) for _, p in batch]]
            else:
                futures = [client.submit(_bayes_trial, pipeline, *data, p, *args, pure=False) for _, p in batch]
                outcomes = client.gather(futures)  # the whole batch ends before any trial is told
            for outcome in outcomes:
                if outcome is not None:
                    outcome["elapsed"] = outcome.pop("ended") - run.started_wall
            for (trial, params), outcome in zip(batch, outcomes, strict=True):
                _tell(study, run, trial, params, outcome)
    return study


def dask_client() -> Any:
    """The Dask client joblib's active backend runs on (``compute.backend: dask``), else ``None``."""
    from joblib.parallel import get_active_backend

    backend, _ = get_active_backend()
    on_dask = any(kind.__name__ == "DaskDistributedBackend" for kind in type(backend).__mro__)
    return getattr(backend, "client", None) if on_dask else None


def _bayes_trial(pipeline, X, y, params, folds, scorer, completed, pruner, deadline) -> dict[str, Any] | None:
    """One bayes trial, fold by fold (in a thread or on a Dask worker): scores, fits, fit seconds, state and
    when it ended (wall clock); ``None`` when it would start after ``deadline`` (the budget is spent).

    Pruning asks the search's ``pruner`` on a study of the ``completed`` trials and this one, which is
    what the search's own study would answer (optuna's median pruner reads completed trials only).
    """
    import optuna
    from sklearn.base import clone

    if deadline is not None and time.time() >= deadline:
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruning = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0), pruner=pruner)
    pruning.add_trials(completed)
    trial = pruning.ask()
    model = clone(pipeline).set_params(**{f"model__{k}": v for k, v in params.items()})
    scores: list[float] = []
    fits, fit_seconds, state, error = 0, 0.0, "complete", None
    try:
        for step, (train, test) in enumerate(folds):
            started = time.perf_counter()
            model.fit(_rows(X, train), _rows(y, train))
            fit_seconds += time.perf_counter() - started
            fits += 1
            scores.append(float(scorer(model, _rows(X, test), _rows(y, test))))
            if not np.isfinite(scores[-1]):
                break
            trial.report(float(np.mean(scores)), step)
            if step < len(folds) - 1 and trial.should_prune():
                state = "pruned"
                break
    except Exception as exc:  # noqa: BLE001 -- a failing candidate is a failed trial, not a failed search
        error = f"{type(exc).__name__}: {exc}"
        scores.append(math.nan)
    return {
        "scores": scores,
        "fits": fits,
        "fit_seconds": fit_seconds,
        "state": state,
        "error": error,
        "ended": time.time(),
    }


def _tell(study, run: _Run, trial, params, outcome: dict[str, Any] | None) -> None:
    """Record one finished trial (a row, its fits) and tell Optuna how it ended."""
    from optuna.trial import TrialState

    if outcome is None:  # not started: the budget was spent
        run.cut_short = True
        study.tell(trial, state=TrialState.FAIL)
        return
    if outcome.get("error"):
        warnings.warn(f"{run.family}: trial {trial.number} failed: {outcome['error']}", stacklevel=2)
    scores = outcome["scores"]
    for step in range(len(scores)):  # the running means the trial reported, for the pruner of later batches
        if np.isfinite(scores[step]):
            trial.report(float(np.mean(scores[: step + 1])), step)
    run.n_fits += outcome["fits"]
    run.add(params, scores, outcome["fit_seconds"], outcome["state"], elapsed=outcome["elapsed"])
    row = run.rows[-1]
    if row["state"] == "pruned":
        study.tell(trial, state=TrialState.PRUNED)
    elif row["state"] == "failed":
        study.tell(trial, state=TrialState.FAIL)
    else:
        study.tell(trial, row["mean"])


def _halving(run: _Run, pipeline, X, y, folds, candidates, scoring, task, random_state, factor: int = 3):
    """Successive halving: all candidates on few rows, the best third on three times more, ..."""
    max_rows = min(len(train) for train, _ in folds)
    n_classes = len(np.unique(np.asarray(y))) if task == "classification" else 1
    smallest = 2 * len(folds) * n_classes  # scikit-learn's "smallest" min_resources
    rounds = 1 + math.floor(math.log(len(candidates), factor) + 1e-9) if len(candidates) > 1 else 1
    rounds = max(1, min(rounds, 1 + math.floor(math.log(max(max_rows // smallest, 1), factor))))
    min_rows = max(smallest, max_rows // factor ** (rounds - 1))  # "exhaust": the last round uses all rows
    alive = list(range(len(candidates)))
    last: dict[int, dict] = {}
    spent: dict[int, float] = {}
    rng = np.random.default_rng(random_state)
    for r in range(rounds):
        rows = max_rows if r == rounds - 1 else min(max_rows, min_rows * factor**r)
        sub = [(_subsample(train, y, rows, task, rng), test) for train, test in folds]
        before = run.base = len(run.rows)
        run.total, run.stage = len(alive), f"round {r + 1}/{rounds} ({rows:,} rows) "
        _evaluate(run, pipeline, X, y, sub, [candidates[i] for i in alive], scoring, rounds=r + 1, rows=rows)
        evaluated = run.rows[before:]
        for i, row in zip(alive, evaluated, strict=False):
            spent[i] = spent.get(i, 0.0) + row["fit_seconds"]
            row["fit_seconds"] = spent[i]
            last[i] = row
        if run.cut_short or r == rounds - 1:
            alive = alive[: len(evaluated)]
            break
        keep = math.ceil(len(alive) / factor)
        alive = sorted(alive, key=lambda i: -_finite(last[i]["mean"]))[:keep]
        alive.sort()
    # one row per candidate: its last round; those that did not reach the last round were pruned
    full = max((row["rounds"] for row in last.values()), default=0)
    final = []
    for i in sorted(last):
        row = dict(last[i])
        if row["state"] == "complete" and row["rounds"] < full:
            row["state"] = "pruned"
        final.append(row)
    final.sort(key=lambda row: row["elapsed_s"])
    for i, row in enumerate(final):
        row["trial"] = i
    run.rows = final


# --------------------------------------------------------------------------- helpers


def _lists_for_grid(space):
    from nblib.ml.training.spaces import grid_of

    return grid_of(space)


def _sample(space, n_trials, random_state) -> list[dict[str, Any]]:
    """``n_trials`` seeded draws, as RandomizedSearchCV draws them (ParameterSampler)."""
    from scipy import stats
    from sklearn.model_selection import ParameterSampler

    dists = {}
    for name, spec in space.items():
        if isinstance(spec, list):
            dists[name] = spec
        elif spec["low"] == spec["high"]:
            dists[name] = [int(spec["low"]) if spec["int"] else spec["low"]]
        elif spec["int"]:
            dists[name] = (
                _LogInt(spec["low"], spec["high"]) if spec["log"] else stats.randint(spec["low"], spec["high"] + 1)
            )
        else:
            dists[name] = (
                stats.loguniform(spec["low"], spec["high"])
                if spec["log"]
                else stats.uniform(spec["low"], spec["high"] - spec["low"])
            )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*grid of .* is smaller than n_iter.*")
        return [
            {k: _native(v) for k, v in c.items()}
            for c in ParameterSampler(dists, n_iter=n_trials, random_state=random_state)
        ]


class _LogInt:
    """Integers drawn log-uniformly from [low, high] (a scipy-like ``rvs`` for ParameterSampler)."""

    def __init__(self, low, high):
        self.low, self.high = low, high

    def rvs(self, random_state=None):
        from scipy import stats

        value = stats.loguniform(self.low - 0.5 if self.low > 0.5 else self.low, self.high + 0.5).rvs(
            random_state=random_state
        )
        return int(min(self.high, max(self.low, round(value))))


def _suggest(trial, name, spec):
    if isinstance(spec, list):
        if all(v is None or isinstance(v, (bool, int, float, str)) for v in spec):
            return trial.suggest_categorical(name, spec)
        choices = [repr(v) for v in spec]  # Optuna stores only plain values: choose by text
        return spec[choices.index(trial.suggest_categorical(name, choices))]
    if spec["int"]:
        return trial.suggest_int(name, int(spec["low"]), int(spec["high"]), log=spec["log"])
    return trial.suggest_float(name, float(spec["low"]), float(spec["high"]), log=spec["log"])


def _subsample(train, y, rows, task, rng):
    """``rows`` of the training indices ``train`` (stratified for classification), sorted."""
    if rows >= len(train):
        return train
    if task == "classification":
        labels = np.asarray(_rows(y, train))
        picked = []
        for value in np.unique(labels):
            members = train[labels == value]
            n = max(1, round(rows * len(members) / len(train)))
            picked.append(rng.choice(members, size=min(n, len(members)), replace=False))
        return np.sort(np.concatenate(picked))
    return np.sort(rng.choice(train, size=rows, replace=False))


def _rows(data, index):
    return data.iloc[index] if hasattr(data, "iloc") else np.asarray(data)[index]


def _finite(value) -> float:
    return float(value) if value is not None and np.isfinite(value) else -math.inf


def _native(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _plain(value):
    """A JSON value (:func:`nblib.common.jsonsafe.jsonable`: NaN/inf → None, tuples → lists, numpy → Python)."""
    return jsonable(value)


def _fanova(study) -> dict[str, float] | None:
    import optuna

    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < 2:
        return None
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))
    except (RuntimeError, ValueError):
        return None


def _variance_importance(trials: pd.DataFrame) -> dict[str, float]:
    done = trials[(trials["state"] == "complete") & trials["mean"].notna()]
    names = [c for c in trials.columns if c not in _FIXED_COLUMNS and c not in ("rounds", "rows")]
    total = float(done["mean"].var(ddof=0)) if len(done) >= 2 else 0.0
    if total <= 0:
        return {}
    shares = {}
    for name in names:
        values = done[name]
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.notna().all() and values.nunique() > 4:
            keys = pd.qcut(numeric, 4, duplicates="drop").astype(str)
        else:
            keys = values.map(repr)
        means = done["mean"].groupby(keys).transform("mean")
        shares[name] = float(means.var(ddof=0)) / total
    scale = sum(shares.values()) or 1.0
    return {k: v / scale for k, v in shares.items()}
