import json
import time
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from nblib.ml.training.families import make_model
from nblib.ml.training.search import (
    METHODS,
    SearchResult,
    plot_history,
    plot_param_importance,
    plot_score_vs_time,
    search_family,
)
from nblib.ml.training.spaces import SPACES, check_narrowing, grid_of, space_families, space_for

SPACE = {"learning_rate": {"low": 0.05, "high": 0.3, "log": True, "int": False}, "max_leaf_nodes": [4, 8]}


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=300, n_features=6, n_informative=3, random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)])
    frame["kind"] = np.where(X[:, 0] > 0, "a", "b")
    groups = np.arange(300) // 3  # groups of three rows
    return frame, pd.Series(y, name="target"), groups


def _pipeline():
    features = ColumnTransformer(
        [("num", StandardScaler(), [f"x{i}" for i in range(6)]), ("cat", OneHotEncoder(), ["kind"])]
    )
    model = make_model("hist_gradient_boosting", "classification", {"max_iter": 15, "early_stopping": False})
    return Pipeline([("features", features), ("model", model)])


def _search(data, method, **kwargs):
    X, y, _ = data
    options = {
        "family": "hist_gradient_boosting",
        "task": "classification",
        "method": method,
        "n_trials": 6,
        "space": SPACE,
        "cv": StratifiedKFold(3, shuffle=True, random_state=0),
        "scoring": "roc_auc",
        "n_jobs": 1,
        "random_state": 0,
    }
    return search_family(_pipeline(), X, y, **{**options, **kwargs})


@pytest.mark.parametrize("method", METHODS)
def test_each_method_finds_params_and_is_reproducible(data, method):
    lines = []
    result = _search(data, method, progress=lines.append)
    assert set(result.best_params) == set(SPACE)
    assert 0.6 < result.best_score <= 1 and result.best_std >= 0
    assert {"trial", "learning_rate", "max_leaf_nodes", "mean", "std", "fit_seconds", "elapsed_s", "state"} <= set(
        result.trials.columns
    )
    assert set(result.trials["state"]) <= {"complete", "pruned"}
    assert len(lines) >= len(result.trials) and lines[-1].startswith("hist_gradient_boosting: ")
    assert result.n_fits >= len(result.trials) and not result.cut_short
    done = result.trials[result.trials["state"] == "complete"]
    assert result.best_score == pytest.approx(done["mean"].max()) or method == "halving"
    json.dumps(result.to_dict(), allow_nan=False)
    again = _search(data, method)
    assert again.best_params == result.best_params and again.best_score == result.best_score
    pd.testing.assert_series_equal(again.trials["mean"], result.trials["mean"])
    if method == "grid":
        assert len(result.trials) == 3 * 2
    if method == "halving":
        assert len(result.trials) == 6 and (result.trials["state"] == "pruned").sum() >= 3
        assert result.trials["rows"].max() == 200


@pytest.mark.parametrize("method", METHODS)
def test_n_jobs_changes_no_search_result(data, method):
    """Issue 15: bayes trials ran in Optuna's threads, so with n_jobs > 1 the TPE sampler saw
    whichever trials happened to be done: other trials, another best. Batches fixed in size,
    sampled in order and told in order give the same search whatever n_jobs is."""
    from sklearn.linear_model import LogisticRegression

    X, y, _ = data
    space = {"C": {"low": 1e-3, "high": 10.0, "log": True, "int": False}, "class_weight": [None, "balanced"]}
    pipe = Pipeline(
        [
            ("features", ColumnTransformer([("num", StandardScaler(), [f"x{i}" for i in range(6)])])),
            ("model", LogisticRegression()),
        ]
    )

    def search(n_jobs):  # 16 trials: past TPE's 10 random start-up trials and the pruner's 5
        return search_family(
            pipe,
            X,
            y,
            family="logistic_regression",
            task="classification",
            method=method,
            n_trials=16,
            space=space,
            cv=StratifiedKFold(3, shuffle=True, random_state=0),
            scoring="roc_auc",
            n_jobs=n_jobs,
            random_state=0,
        )

    one, two = search(1), search(2)
    columns = ["trial", "C", "class_weight", "mean", "std", "state"]
    pd.testing.assert_frame_equal(two.trials[columns], one.trials[columns])
    assert two.best_params == one.best_params and two.best_score == one.best_score
    assert two.n_fits == one.n_fits
    if method == "bayes":
        assert [t.params for t in two.study.trials] == [t.params for t in one.study.trials]


def test_bayes_prunes_hopeless_trials(data):
    space = {"learning_rate": {"low": 1e-4, "high": 0.5, "log": True, "int": False}}
    result = _search(data, "bayes", n_trials=14, space=space)
    assert (result.trials["state"] == "pruned").any()
    assert result.n_fits < 14 * 3
    assert result.study is not None


def test_budget_cuts_the_search_short(data):
    started = time.perf_counter()
    for method in METHODS:
        result = _search(
            data,
            method,
            n_trials=200,
            time_budget_s=0.3,
            space={"learning_rate": [round(v, 4) for v in np.linspace(0.01, 0.3, 200)]},
        )
        assert result.cut_short, method
        assert 1 <= len(result.trials) < 200
    assert time.perf_counter() - started < 20


class _RecordingGroupKFold(StratifiedGroupKFold):
    """Records every split it hands out."""

    splits: ClassVar[list] = []

    def split(self, X, y=None, groups=None):
        assert groups is not None
        for train, test in super().split(X, y, groups):
            type(self).splits.append((train, test))
            yield train, test


@pytest.mark.parametrize("method", ["random", "bayes", "halving"])
def test_groups_never_straddle_train_and_held_out(data, method, monkeypatch):
    from sklearn.model_selection import GridSearchCV

    groups = data[2]
    seen = []
    fit = GridSearchCV.fit

    def spy(self, X_, y_=None, **kw):  # every (train, held-out) pair any trial used
        seen.extend(self.cv)
        return fit(self, X_, y_, **kw)

    monkeypatch.setattr(GridSearchCV, "fit", spy)
    _RecordingGroupKFold.splits = []
    result = _search(data, method, groups=groups, cv=_RecordingGroupKFold(3, shuffle=True, random_state=0))
    assert result.best_params
    pairs = seen or _RecordingGroupKFold.splits
    assert pairs and len(_RecordingGroupKFold.splits) == 3
    for train, test in pairs:
        assert not set(groups[train]) & set(groups[test])


def test_unknown_method_and_empty_space(data):
    with pytest.raises(ValueError, match="choose from"):
        _search(data, "annealing")
    with pytest.raises(ValueError, match="empty"):
        _search(data, "random", space={})


def test_plots_return_figures(data):
    random, bayes = _search(data, "random"), _search(data, "bayes", n_trials=8)
    assert isinstance(plot_history(random.trials, "random_forest: random $"), Figure)
    assert isinstance(plot_score_vs_time([random, bayes]), Figure)
    assert isinstance(plot_score_vs_time([random, bayes], x="fit_seconds"), Figure)
    fanova = plot_param_importance(bayes)
    assert "fANOVA" in fanova.axes[0].get_title()
    simple = plot_param_importance(random.trials)
    assert "variance" in simple.axes[0].get_title()
    empty = SearchResult("ridge", "grid", {}, float("nan"), float("nan"), random.trials.iloc[:0])
    assert isinstance(plot_param_importance(empty), Figure)
    assert empty.to_dict()["best_score"] is None


# --------------------------------------------------------------------------- spaces


def test_every_registered_family_has_a_space_of_its_own_hyperparameters():
    from nblib.ml.training.families import FAMILIES

    for (name, task), family in FAMILIES.items():
        if name == "dummy":
            continue
        space = space_for(name, task)
        assert set(space) <= set(family.factory().get_params()), name
    assert "mlp" in space_families("classification")
    assert set(space_for("mlp", "regression")) == {"hidden_sizes", "dropout", "lr", "weight_decay", "batch_size"}


def test_narrowing_replaces_and_narrows():
    space = space_for(
        "hist_gradient_boosting",
        "classification",
        {"learning_rate": {"low": 0.05}, "max_leaf_nodes": [8, 16], "l2_regularization": 1.0},
    )
    assert space["learning_rate"] == {"low": 0.05, "high": 0.3, "log": True, "int": False}
    assert space["max_leaf_nodes"] == [8, 16] and space["l2_regularization"] == [1.0]
    assert space_for("mlp", "classification", {"hidden_sizes": [[32], [64, 32]]})["hidden_sizes"] == [(32,), (64, 32)]
    assert SPACES[("hist_gradient_boosting", "classification")]["max_leaf_nodes"]["low"] == 4  # declared untouched


@pytest.mark.parametrize(
    "narrowing, message",
    [
        ({"learnin_rate": [0.1]}, "learnin_rate: not a searched hyperparameter.*did you mean 'learning_rate'"),
        ({"learning_rate": {"low": 0.5, "high": 0.1}}, "low 0.5 is above high 0.1"),
        ({"learning_rate": {"low": 0, "high": 0.1}}, "log range needs low > 0"),
        ({"learning_rate": {"lo": 0.1}}, "unknown range key 'lo'"),
        ({"learning_rate": []}, "empty list"),
        ({"learning_rate": {"low": "a"}}, "low must be a finite number"),
    ],
)
def test_bad_narrowing_is_refused_in_one_line(narrowing, message):
    with pytest.raises(ValueError, match=message):
        space_for("hist_gradient_boosting", "classification", narrowing)
    reason = check_narrowing("hist_gradient_boosting", "classification", narrowing)
    assert reason.startswith("train.search.spaces.hist_gradient_boosting.") and "\n" not in reason


def test_no_space_for_unknown_family():
    assert "no search space declared for 'xgboost'" in check_narrowing("xgboost", "classification", {})
    assert check_narrowing("ridge", "regression", None) is None


def test_grid_of_ranges():
    grid = grid_of(space_for("hist_gradient_boosting", "regression"))
    assert grid["max_leaf_nodes"] == [4, 16, 64] and grid["learning_rate"] == [0.01, 0.0548, 0.3]
    assert grid_of({"a": {"low": 1, "high": 2, "int": True}}, points_per_range=5) == {"a": [1, 2]}
    with pytest.raises(ValueError, match="points_per_range"):
        grid_of({}, points_per_range=0)


def test_spaces_module_does_not_import_sklearn():
    import subprocess
    import sys

    code = "import sys, nblib.ml.training.spaces; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


class _DepthProbe(ClassifierMixin, BaseEstimator):
    """Predicts the truth only when max_depth is exactly the int 8 (so the best trial is known)."""

    def __init__(self, max_depth=None):
        self.max_depth = max_depth

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        signal = np.asarray(X)[:, 0] if self.max_depth == 8 and type(self.max_depth) is int else 0.0
        p = 1 / (1 + np.exp(-np.asarray(signal) * np.ones(len(X))))
        return np.column_stack([1 - p, p])


def test_best_params_keep_their_types_through_the_trials_table():
    """max_depth in [None, 8, 16]: the trials frame turns 8 into 8.0; the estimator must get the int 8."""
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import Pipeline

    from nblib.ml.training.search import search_family

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(120, 2)), columns=["a", "b"])
    y = pd.Series((X["a"] > 0).astype(int))
    pipe = Pipeline([("model", _DepthProbe())])
    found = search_family(
        pipe,
        X,
        y,
        family="random_forest",
        task="classification",
        method="grid",
        n_trials=3,
        space={"max_depth": [None, 8, 16]},
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
        scoring="roc_auc",
    )
    assert found.best_params == {"max_depth": 8} and type(found.best_params["max_depth"]) is int


# --------------------------------------------------------------------------- nested CV of searched families


def _train_searched(data, monkeypatch, **kwargs):
    """train() with a random search on one family, recording the rows every search was given."""
    from nblib.ml.training import search as tuning
    from nblib.ml.training import trainer as training

    seen = []
    real = tuning.search_family

    def recording(pipeline, X, y, **options):
        seen.append(np.asarray(X.index))
        return real(pipeline, X, y, **options)

    monkeypatch.setattr(tuning, "search_family", recording)
    X, y, _ = data
    features = ColumnTransformer(
        [("num", StandardScaler(), [f"x{i}" for i in range(6)]), ("cat", OneHotEncoder(), ["kind"])]
    )
    result = training.train(
        X,
        y,
        features,
        {"logistic_regression": {}},
        task="classification",
        cv_folds=3,
        search={"method": "random", "n_trials": 2, "spaces": {"logistic_regression": {"C": [0.01, 1.0]}}},
        threshold=None,
        learning_curve=False,
        random_state=0,
        **kwargs,
    )
    return result, seen


def test_a_searched_family_is_scored_on_outer_folds_its_search_never_saw(data, monkeypatch):
    from nblib.ml.training.cv import make_splitter

    result, seen = _train_searched(data, monkeypatch)
    X, y, _ = data
    folds = list(make_splitter("classification", 3, 0, False).split(X, y))
    # one search per outer training fold, then one on all rows (whose settings are refit)
    assert len(seen) == len(folds) + 1
    for (train, test), rows in zip(folds, seen, strict=False):
        assert set(rows) == set(X.index[train]) and not set(rows) & set(X.index[test])
    assert set(seen[-1]) == set(X.index)
    table = result.cv.table
    assert table.loc["logistic_regression", "cv"].startswith(
        "nested CV: the random search re-run on each of the 3 outer training folds"
    )
    cv = result.to_dict()
    assert cv["search"]["logistic_regression"]["trials"]  # the all-rows search is the one shown
    assert cv["chosen"]["searched"] and "nested" in cv["chosen"]["cv_note"]
    json.dumps(cv, allow_nan=False)


def test_unsearched_families_say_their_cv_is_plain(data):
    from nblib.ml.training import trainer as training

    X, y, _ = data
    features = ColumnTransformer([("num", StandardScaler(), [f"x{i}" for i in range(6)])])
    result = training.train(
        X,
        y,
        features,
        {"logistic_regression": {}},
        task="classification",
        cv_folds=3,
        threshold=None,
        learning_curve=False,
    )
    note = result.to_dict()["models"]["logistic_regression"]["cv_note"]
    assert note == "3-fold CV, settings fixed in advance"
    assert result.chosen.cv_note == note and not result.chosen.searched and result.chosen.kind == "single"


def test_the_nested_search_keeps_to_the_time_budget(data, monkeypatch):
    """A tiny budget still ends in a chosen, saved model; the searches say they were cut short."""
    result, seen = _train_searched(data, monkeypatch, time_budget_s=0.01)
    assert result.model is not None and result.chosen is not None
    assert any("time budget" in note for note in result.to_dict()["notes"])


class _NeedsRows(ClassifierMixin, BaseEstimator):
    """Fails to fit on fewer than 60 rows (as SMOTE does when a subsample holds too few of a class)."""

    def __init__(self, max_depth=None):
        self.max_depth = max_depth

    def fit(self, X, y):
        if len(X) < 60:
            raise ValueError(f"need 60 rows, got {len(X)}")
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        p = 1 / (1 + np.exp(-np.asarray(X)[:, 0]))
        return np.column_stack([1 - p, p])


def test_halving_survives_a_first_round_where_every_fit_fails():
    """The smaller training folds of a nested search make halving's first rounds tiny: fits failing there
    are failed trials, and the rounds on more rows still find the best settings."""
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import Pipeline

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(180, 2)), columns=["a", "b"])
    y = pd.Series((X["a"] > 0).astype(int))
    with pytest.warns(UserWarning, match="failed on every fold"):
        found = search_family(
            Pipeline([("model", _NeedsRows())]),
            X,
            y,
            family="f",
            task="classification",
            method="halving",
            n_trials=3,
            space={"max_depth": [2, 4, 8]},
            cv=StratifiedKFold(2, shuffle=True, random_state=0),
            scoring="roc_auc",
        )
    assert found.best_params and (found.trials["state"] == "failed").any()
    assert (found.trials["state"] == "complete").any()


def test_rmse_search_tables_and_plots_show_rmse_positive_best_first():
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.pipeline import Pipeline

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = pd.Series(3 * X["a"] + rng.normal(size=200))
    result = search_family(
        Pipeline([("model", HistGradientBoostingRegressor(max_iter=20, random_state=0))]),
        X,
        y,
        family="hist_gradient_boosting",
        task="regression",
        method="random",
        n_trials=4,
        space={"learning_rate": [0.03, 0.1, 0.3], "max_leaf_nodes": [4, 8]},
        cv=3,
        scoring="neg_root_mean_squared_error",
        n_jobs=1,
        random_state=0,
    )
    assert result.scoring == "neg_root_mean_squared_error" and result.to_dict()["scoring"] == result.scoring
    shown = result.shown_trials()
    assert (shown["mean"] > 0).all() and shown["mean"].is_monotonic_increasing  # RMSE, lowest (best) first
    assert shown["mean"].iloc[0] == pytest.approx(-result.best_score)
    ax = plot_history(result.trials, "rmse search", result.scoring).axes[0]
    assert ax.get_ylabel() == "CV rmse"
    assert all((line.get_ydata() > 0).all() for line in ax.get_lines())
    assert "rmse" in plot_score_vs_time([result]).axes[0].get_ylabel()
