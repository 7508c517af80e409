"""Imbalance strategies: every one fits on sparse features, saves with skops, and resamples in-fold only."""

import importlib.util
import json

import numpy as np
import pytest
from imblearn.over_sampling import RandomOverSampler
from imblearn.utils.estimator_checks import estimator_checks_generator
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import (
    StratifiedKFold,
    cross_val_score,
    cross_validate,
    train_test_split,
)

from nblib.engine.artifacts import read_model, write_model
from nblib.ml.data.datasets import make_product_launches
from nblib.ml.data.preprocess import clean_frame, infer_column_roles, make_preprocessor
from nblib.ml.features import make_feature_transformer, make_text_vectorizer
from nblib.ml.saved import TRUSTED_TYPES
from nblib.ml.training.imbalance import (
    STRATEGIES,
    ConditionalGANSampler,
    EncodedSMOTENC,
    SlimADASYN,
    SlimSMOTE,
    compare_strategies,
    make_sampler,
    resampling_summary,
    training_pipeline,
)

# the gan strategy needs torch, which comes with the nn extra that `make test` installs
needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
STRATEGY_CASES = [pytest.param(s, marks=needs_torch) if s == "gan" else s for s in STRATEGIES]


def _frame(n, seed):
    cleaned = clean_frame(
        make_product_launches(n, seed).frame, target="is_hit", drop_columns=["revenue_k", "reviews_first_week"]
    ).frame
    roles = infer_column_roles(cleaned, "is_hit")
    features = make_feature_transformer(
        make_preprocessor(roles, target_type="binary"), roles, text=make_text_vectorizer(max_features=200)
    )
    return cleaned[roles.features], cleaned["is_hit"], features


@pytest.fixture(scope="module")
def data():
    X, y, features = _frame(600, 3)
    return X.iloc[:450], y.iloc[:450], X.iloc[450:], features


def _model(strategy):
    return LogisticRegression(C=0.3, max_iter=2000, class_weight="balanced" if strategy == "class_weight" else None)


def test_features_are_sparse(data):
    X, y, _, features = data
    assert sparse.issparse(clone(features).fit_transform(X, y))


@pytest.mark.parametrize("strategy", STRATEGY_CASES)
def test_every_strategy_fits_predicts_and_round_trips(strategy, data, tmp_path):
    X, y, X_new, features = data
    pipe = training_pipeline(features, _model(strategy), strategy, task="classification", gan_epochs=3)
    assert pipe.steps[0][0] == "features" and pipe.steps[-1][0] == "model"
    pipe.fit(X, y)
    proba = pipe.predict_proba(X_new)
    assert proba.shape == (len(X_new), 2) and np.isfinite(proba).all()
    summary = resampling_summary(pipe, X, y)
    assert summary["before"] == {"0": int((y == 0).sum()), "1": int((y == 1).sum())}
    if strategy in ("none", "class_weight"):
        assert summary["after"] == summary["before"] and summary["sampler"] is None
    elif strategy == "random_under":
        assert summary["after"] == {"0": summary["before"]["1"], "1": summary["before"]["1"]}
    elif strategy == "adasyn":  # ADASYN spreads its rows per neighbourhood: close to balanced
        assert abs(summary["after"]["1"] - summary["after"]["0"]) <= 0.05 * summary["after"]["0"]
    else:
        assert summary["after"] == {"0": summary["before"]["0"], "1": summary["before"]["0"]}
    path = write_model(tmp_path / "model.skops", pipe)
    assert np.array_equal(read_model(path, TRUSTED_TYPES).predict_proba(X_new), proba)


@needs_torch
def test_same_seed_same_model(data):
    X, y, X_new, features = data
    for strategy in ("smote_nc", "gan"):
        runs = [
            training_pipeline(features, _model(strategy), strategy, task="classification", gan_epochs=2, random_state=5)
            .fit(X, y)
            .predict_proba(X_new)
            for _ in range(2)
        ]
        assert np.array_equal(*runs), strategy


def test_smote_nc_keeps_one_hot_columns_binary(data):
    X, y, _, features = data
    Xt = clone(features).fit_transform(X, y)
    sampler = EncodedSMOTENC(random_state=0)
    X_res, _ = sampler.fit_resample(Xt, y.to_numpy())
    assert sampler.method_ == "smote_nc" and sparse.issparse(X_res)
    fitted = clone(features).fit(X, y)
    one_hot = np.arange(Xt.shape[1])[fitted.output_indices_["categorical"]]
    assert set(one_hot) <= set(sampler.categorical_features_)
    assert not set(np.arange(Xt.shape[1])[fitted.output_indices_["numeric"]][:5]) & set(sampler.categorical_features_)
    assert set(np.unique(X_res[len(y) :][:, one_hot].toarray())) <= {0.0, 1.0}


def test_smote_nc_falls_back_to_smoten_and_smote():
    rng = np.random.default_rng(0)
    y = np.array([0] * 40 + [1] * 10)
    binary = rng.integers(0, 2, size=(50, 3)).astype(float)
    assert EncodedSMOTENC(random_state=0).fit(binary, y).fit_resample(binary, y)[0].shape == (80, 3)
    sampler = EncodedSMOTENC(random_state=0)
    sampler.fit_resample(sparse.csr_matrix(binary), y)
    assert sampler.method_ == "smoten"
    sampler.fit_resample(rng.normal(size=(50, 3)), y)
    assert sampler.method_ == "smote"


@needs_torch
def test_gan_rows_look_like_the_minority():
    rng = np.random.default_rng(0)
    y = np.array([0] * 300 + [1] * 60)
    X = np.c_[rng.normal(loc=np.where(y == 1, 3.0, -3.0)), rng.integers(0, 2, size=360)]
    sampler = ConditionalGANSampler(epochs=30, random_state=0)
    X_res, y_res = sampler.fit_resample(X, y)
    generated = X_res[len(y) :]
    assert np.bincount(y_res).tolist() == [300, 300] and len(sampler.losses_["generator"]) == 30
    assert generated[:, 0].mean() > 1.0  # drawn near the minority (mean +3), not the majority (-3)
    assert set(np.unique(generated[:, 1])) <= {0.0, 1.0}


@needs_torch
def test_gan_keeps_sparse_columns_sparse(data):
    X, y, _, features = data
    Xt = clone(features).fit_transform(X, y)
    X_res, _ = ConditionalGANSampler(epochs=3, random_state=0).fit_resample(Xt, y.to_numpy())
    assert sparse.issparse(X_res) and X_res.shape == (2 * int((y == 0).sum()), Xt.shape[1])
    assert X_res[len(y) :].nnz < 0.5 * (X_res.shape[0] - len(y)) * Xt.shape[1]


SAMPLERS = [
    SlimSMOTE(random_state=0),
    SlimADASYN(random_state=0),
    EncodedSMOTENC(random_state=0),
    ConditionalGANSampler(epochs=1, random_state=0),
]
SAMPLER_CHECKS = [
    pytest.param(
        estimator,
        check,
        id=f"{type(estimator).__name__}-{check.func.__name__}",
        marks=needs_torch if isinstance(estimator, ConditionalGANSampler) else (),
    )
    for sampler in SAMPLERS
    for estimator, check in estimator_checks_generator(sampler)
]


@pytest.mark.parametrize(("estimator", "check"), SAMPLER_CHECKS)
def test_imblearn_sampler_checks(estimator, check):
    """imbalanced-learn's own sampler checks (scikit-learn's run in test_estimators.py)."""
    check(estimator)


class _Recorder(ClassifierMixin, BaseEstimator):
    """Remembers the class counts it was fitted on and the rows it was asked to score."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.fit_counts_ = np.bincount(y).tolist()
        return self

    def predict_proba(self, X):
        self.scored_rows_ = X.shape[0]
        return np.tile([0.5, 0.5], (X.shape[0], 1))


def test_resampling_only_touches_the_training_part_of_each_fold(data):
    X, y, _, features = data
    splitter = StratifiedKFold(3, shuffle=True, random_state=0)
    pipe = training_pipeline(features, _Recorder(), "random_over", task="classification")
    result = cross_validate(pipe, X, y, cv=splitter, scoring="roc_auc", return_estimator=True, return_indices=True)
    for fitted, fit_rows, held_out in zip(
        result["estimator"], result["indices"]["train"], result["indices"]["test"], strict=False
    ):
        majority = int((y.iloc[fit_rows] == 0).sum())
        assert fitted.named_steps["model"].fit_counts_ == [majority, majority]  # training part balanced
        assert fitted.named_steps["model"].scored_rows_ == len(held_out)  # held-out part as it is


def test_resampling_before_cv_inflates_the_score(launches):
    """CV with in-fold oversampling tracks the held-out score; oversampling the training set first,
    then cross-validating, puts copies of each minority row on both sides of a fold and inflates it."""
    frame = clean_frame(launches.frame, target="is_hit", drop_columns=["revenue_k", "reviews_first_week"]).frame
    roles = infer_column_roles(frame, "is_hit")
    features = make_feature_transformer(
        make_preprocessor(roles, target_type="binary"), roles, text=make_text_vectorizer(max_features=200)
    )
    train, test = train_test_split(frame, test_size=0.3, stratify=frame["is_hit"], random_state=0)
    X, y = train[roles.features], train["is_hit"]
    forest = RandomForestClassifier(n_estimators=50, random_state=0, n_jobs=1)
    splitter = StratifiedKFold(5, shuffle=True, random_state=0)

    in_fold = training_pipeline(features, forest, "random_over", task="classification")
    cv_in_fold = cross_val_score(in_fold, X, y, cv=splitter, scoring="roc_auc").mean()
    held_out = roc_auc_score(test["is_hit"], clone(in_fold).fit(X, y).predict_proba(test[roles.features])[:, 1])
    X_over, y_over = RandomOverSampler(random_state=0).fit_resample(X, y)
    plain = training_pipeline(features, forest, "none", task="classification")
    cv_before = cross_val_score(plain, X_over, y_over, cv=splitter, scoring="roc_auc").mean()

    assert abs(cv_in_fold - held_out) < 0.05, (cv_in_fold, held_out)
    assert cv_before - held_out > 0.1, (cv_before, held_out)
    assert cv_before > 0.97


def test_compare_strategies_side_by_side(data):
    X, y, _, features = data
    table = compare_strategies(
        features,
        lambda: _model("none"),
        X,
        y,
        strategies=["none", "class_weight", "random_under", "smote"],
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
        scoring="roc_auc",
    )
    assert set(table.index) == {"none", "class_weight", "random_under", "smote"}
    assert list(table.columns[:3]) == ["mean", "std", "fit_seconds"]
    assert table["mean"].is_monotonic_decreasing and table["mean"].between(0.5, 1).all()
    dummy = compare_strategies(
        features,
        lambda: _Recorder(),
        X,
        y,
        strategies=["class_weight", "none"],
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
        scoring="roc_auc",
    )
    assert list(dummy.index) == ["none"]  # a model without class_weight gets no class_weight row


def test_unknown_strategy_and_regression_are_refused(data):
    _, _, _, features = data
    with pytest.raises(ValueError, match="did you mean 'smote'"):
        training_pipeline(features, _model("none"), "smot", task="classification")
    with pytest.raises(ValueError, match="needs a classification target"):
        training_pipeline(features, _model("none"), "smote", task="regression")
    assert make_sampler("none") is None and make_sampler("class_weight") is None
    assert training_pipeline(features, _model("none"), "none", task="regression").steps[0][0] == "features"


def test_resampling_summary_is_json_ready(data):
    X, y, _, features = data
    pipe = training_pipeline(features, _model("smote"), "smote", task="classification").fit(X, y)
    summary = resampling_summary(pipe, X, y)
    assert summary["sampler"] == "SlimSMOTE" and summary["rows_after"] == 2 * summary["before"]["0"]
    assert json.loads(json.dumps(summary)) == summary
