import numpy as np
import pandas as pd
import pytest

from nblib.ml.data.preprocess import (
    clean_frame,
    infer_column_roles,
    make_preprocessor,
    split_train_test,
)
from nblib.ml.features import make_feature_transformer, make_text_vectorizer
from nblib.ml.training.cv import adapt_folds, build_pipeline, default_scoring, make_splitter
from nblib.ml.training.families import FAMILIES, family_names, make_model
from nblib.ml.training.trainer import train as train_models


def test_families_cover_both_tasks():
    assert {"logistic_regression", "random_forest", "hist_gradient_boosting"} <= set(family_names("classification"))
    assert {"ridge", "random_forest", "hist_gradient_boosting"} <= set(family_names("regression"))


@pytest.mark.parametrize("key", sorted(FAMILIES), ids="-".join)
def test_every_family_builds_with_overrides(key):
    name, task = key
    model = make_model(name, task, random_state=3, n_jobs=1)
    params = model.get_params()
    if "random_state" in params:
        assert params["random_state"] == 3


def test_unknown_family():
    with pytest.raises(ValueError, match="choose from"):
        make_model("xgboost", "classification")


def test_class_weight_only_where_supported():
    assert make_model("logistic_regression", "classification", class_weight="balanced").class_weight == "balanced"
    assert "class_weight" not in make_model("dummy", "regression").get_params()


@pytest.fixture(scope="module")
def data(launches):
    cleaned = clean_frame(launches.frame, target="is_hit", drop_columns=["revenue_k", "reviews_first_week"])
    train, test = split_train_test(
        cleaned.frame, "is_hit", test_size=0.3, stratify=True, random_state=0, groups=cleaned.groups
    )
    roles = infer_column_roles(train, "is_hit")
    train = train.assign(group=cleaned.groups[train.index])
    features = make_feature_transformer(
        make_preprocessor(roles, target_type="binary"), roles, text=make_text_vectorizer(max_features=200)
    )
    return train, test, roles, features


def compare_models(
    X, y, features, models, *, task, cv_folds, random_state, n_jobs, progress, svd_components=48, groups=None
):
    """Plain cross-validation of each family, then the best refit: :func:`train` without search,
    resampling, ensembles, threshold or learning curve."""
    trained = train_models(
        X,
        y,
        features,
        models,
        task=task,
        cv_folds=cv_folds,
        svd_components=svd_components,
        screen_rows=None,
        learning_curve=False,
        groups=groups,
        random_state=random_state,
        n_jobs=n_jobs,
        progress=print if progress else None,
    )
    return trained.cv, trained.model


def test_compare_models_picks_best_and_is_reproducible(data):
    train, test, roles, features = data
    models = {"dummy": {}, "logistic_regression": {"C": 0.3}, "hist_gradient_boosting": {"max_iter": 20}}
    kwargs = dict(task="classification", cv_folds=3, svd_components=5, random_state=0, n_jobs=1, progress=False)
    result, best = compare_models(train[roles.features], train["is_hit"], features, models, **kwargs)
    assert set(result.scores) == set(models) and all(len(s) == 3 for s in result.scores.values())
    assert np.mean(result.scores["dummy"]) == pytest.approx(0.5)
    assert result.best_model != "dummy"
    assert result.to_dict()["models"][result.best_model]["mean"] == result.table["mean"].max()
    assert best.predict_proba(test[roles.features]).shape == (len(test), 2)
    again, _ = compare_models(train[roles.features], train["is_hit"], features, models, **kwargs)
    assert again.scores == result.scores


def test_families_with_the_same_features_fit_them_once_per_fold_and_score_the_same(data, tmp_path):
    from nblib.ml.training.trainer import cross_validate_oof

    train, _, roles, features = data
    X, y = train[roles.features], train["is_hit"]
    folds = list(make_splitter("classification", 3, 0, False).split(X, y))
    runs = {}
    for name in ("logistic_regression", "random_forest", "hist_gradient_boosting"):
        pipe = build_pipeline(features, name, "classification", {"n_estimators": 20} if name == "random_forest" else {})
        kwargs = dict(scoring="roc_auc", task="classification", n_jobs=1)
        runs[name] = cross_validate_oof(pipe, X, y, folds, memory=str(tmp_path), **kwargs)
        plain = cross_validate_oof(pipe, X, y, folds, **kwargs)
        assert runs[name].scores == plain.scores  # the cache changes the time, never the result
        np.testing.assert_array_equal(runs[name].oof, plain.oof)
    fitted = list(tmp_path.rglob("output.pkl"))  # one per cached fit of the feature steps
    # 3 folds × (2 feature sets: sparse for linear and forest, dense for boosting; the forest's dense step);
    # 12 if each family fitted its own features
    assert len(fitted) == 9


def test_dense_models_get_svd(data):
    _, _, _, features = data
    pipe = build_pipeline(features, "hist_gradient_boosting", "classification", svd_components=4)
    branch = next(name for name, _, _ in features.transformers if name.startswith("text_"))
    svd = pipe.named_steps["features"].get_params()[f"{branch}__svd"]
    assert svd.named_transformers["lsa"].n_components == 4  # beside the linear model's out-of-fold text score
    pipe = build_pipeline(features, "logistic_regression", "classification")
    assert pipe.named_steps["features"].get_params()[f"{branch}__svd"] == "passthrough"


def test_cv_keeps_duplicate_groups_in_one_fold(data):
    train, _, roles, features = data
    kwargs = dict(task="classification", cv_folds=3, random_state=0, n_jobs=1, progress=False)
    result, _ = compare_models(
        train[roles.features], train["is_hit"], features, {"dummy": {}}, groups=train["group"], **kwargs
    )
    assert result.grouped and result.to_dict()["grouped"]
    splitter = make_splitter("classification", 3, 0, grouped=True)
    for fit_rows, held_out in splitter.split(train, train["is_hit"], train["group"]):
        assert not set(train["group"].iloc[fit_rows]) & set(train["group"].iloc[held_out])


def test_folds_adapt_to_the_rarest_class():
    y = pd.Series([0] * 50 + [1] * 3)
    assert adapt_folds(y, 5, task="classification") == (
        3,
        "train.cv_folds 5 lowered to 3: the rarest class has only 3 rows",
    )
    assert adapt_folds(y, 3, task="classification") == (3, None)
    # in groups, each group counts once, as its most frequent class, the smallest on a tie: a, c and d are
    # class 1, b (one row of each) is class 0
    y = pd.Series([0] * 50 + [1, 1, 0] + [1, 0] + [1] + [1, 1])
    groups = pd.Series([f"g{i}" for i in range(50)] + ["a"] * 3 + ["b"] * 2 + ["c"] + ["d"] * 2)
    assert adapt_folds(y, 5, task="classification", groups=groups) == (
        3,
        "train.cv_folds 5 lowered to 3: the rarest class has only 3 rows",
    )


def test_multiclass_scoring(data):
    train, _, roles, features = data
    y = pd.Series(np.arange(len(train)) % 3, index=train.index)
    result, model = compare_models(
        train[roles.features],
        y,
        features,
        {"logistic_regression": {}},
        task="classification",
        cv_folds=2,
        random_state=0,
        n_jobs=1,
        progress=False,
    )
    assert result.scoring == "roc_auc_ovr" and model.predict_proba(train[roles.features].head()).shape == (5, 3)


def test_default_scoring():
    assert default_scoring("classification") == "roc_auc"
    assert default_scoring("classification", 4) == "roc_auc_ovr"
    assert default_scoring("regression") == "neg_root_mean_squared_error"


def test_boosters_compared_on_a_sample_grow_with_early_stopping_on_all_rows():
    from sklearn.datasets import make_classification

    X, y = make_classification(900, n_features=6, random_state=0)
    X, y = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)]), pd.Series(y)
    roles = infer_column_roles(X.assign(y=y), "y")
    features = make_feature_transformer(make_preprocessor(roles, target_type="binary"), roles)
    models = {"dummy": {}, "hist_gradient_boosting": {"max_iter": 50, "early_stopping": False}}
    kw = dict(task="classification", cv_folds=2, ensemble="none", learning_curve=True, random_state=0, n_jobs=1)
    trained = train_models(X, y, features, models, screen_rows=300, **kw)
    assert trained.screened_rows == 300 and trained.cv.best_model == "hist_gradient_boosting"
    booster = trained.model.steps[-1][1]
    assert booster.early_stopping is True and booster.max_iter == round(50 * len(X) / 300)
    assert any("may grow up to 3.0x the rounds" in note for note in trained.notes)
    # the learning curve is drawn for the best single family, and says which
    assert set(trained.learning_curve["model"]) == {"hist_gradient_boosting"}
    whole = train_models(X, y, features, models, screen_rows=None, **kw)
    assert not any("may grow up to 3.0x the rounds" in note for note in whole.notes)


def test_max_rows_trains_on_a_stated_stratified_seeded_sample():
    from sklearn.datasets import make_classification

    X, y = make_classification(900, n_features=4, weights=[0.8], random_state=1)
    X, y = pd.DataFrame(X, columns=[f"x{i}" for i in range(4)]), pd.Series(y)
    roles = infer_column_roles(X.assign(y=y), "y")
    features = make_feature_transformer(make_preprocessor(roles, target_type="binary"), roles)
    kw = dict(task="classification", cv_folds=2, ensemble="none", learning_curve=False, random_state=0, n_jobs=1)
    groups = pd.Series(np.arange(900) // 3, index=X.index)  # groups of three rows: sampled whole
    sampled = train_models(X, y, features, {"logistic_regression": {}}, max_rows=300, groups=groups, **kw)
    assert sampled.trained_rows == 300 and sampled.to_dict()["trained_rows"] == 300
    note = "trained on a stratified, seeded sample of 300 of the 900 training rows (train.max_rows)"
    assert any(n.startswith(note) for n in sampled.to_dict()["notes"])
    again = train_models(X, y, features, {"logistic_regression": {}}, max_rows=300, groups=groups, **kw)
    assert [again.cv.to_dict()["models"][m]["scores"] for m in ("logistic_regression",)] == [
        sampled.cv.to_dict()["models"]["logistic_regression"]["scores"]
    ]  # seeded: the same rows
    plain = train_models(X.iloc[:300], y.iloc[:300], features, {"logistic_regression": {}}, max_rows=300, **kw)
    assert plain.trained_rows == 300 and not any("train.max_rows" in n for n in plain.to_dict()["notes"])


def test_grow_boosting_reaches_the_members_of_a_voting_ensemble():
    from sklearn.ensemble import HistGradientBoostingClassifier, VotingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from nblib.ml.training.trainer import GROWN_MAX_ITER, grow_boosting

    vote = VotingClassifier(
        [
            ("lr", make_pipeline(StandardScaler(), LogisticRegression())),
            ("gb", make_pipeline(StandardScaler(), HistGradientBoostingClassifier(max_iter=300))),
        ]
    )
    assert grow_boosting(vote, 100.0) == ["gb"]
    booster = vote.estimators[1][1].steps[-1][1]
    assert booster.max_iter == GROWN_MAX_ITER and booster.early_stopping and booster.validation_fraction == 0.1


def test_boosters_grow_only_as_far_as_the_time_budget_allows():
    from nblib.ml.training.trainer import Budget, _growth

    assert _growth(6.0, 20.0, Budget(None)) == 6.0  # no budget: grow with the rows
    assert 1.4 < _growth(6.0, 20.0, Budget(30.0)) <= 1.5  # 30 s left, a 1x refit takes 20 s
    assert _growth(6.0, 20.0, Budget(10.0)) == 1.0  # not even one refit's worth left: no growth
    assert _growth(2.0, 1.0, Budget(600.0)) == 2.0  # never more than the rows grew


def test_the_lightgbm_family_splits_categories_natively_and_saves_without_pickle(tmp_path):
    """The boost extra's family: categorical columns reach LightGBM as codes it is told about, and the
    model goes through skops (the booster rebuilt from its model text) with the types nblib trusts."""
    import warnings

    from nblib.engine import artifacts as io
    from nblib.ml.saved import TRUSTED_TYPES
    from nblib.ml.training.cv import build_pipeline

    rng = np.random.default_rng(0)
    shop = rng.choice([f"shop{i}" for i in range(12)], 600)
    effect = dict(zip(sorted(set(shop)), rng.normal(size=12), strict=True))
    X = pd.DataFrame({"shop": shop, "x": rng.normal(size=600)})
    y = pd.Series((np.array([effect[s] for s in shop]) + X["x"] + rng.normal(size=600) > 0).astype(int))
    roles = infer_column_roles(X.assign(y=y), "y")
    assert roles.categorical == ["shop"]
    features = make_feature_transformer(make_preprocessor(roles, target_type="binary"), roles)
    pipe = build_pipeline(features, "lightgbm", "classification", {"n_estimators": 30})
    with warnings.catch_warnings(record=True) as caught:
        pipe.fit(X, y)
    assert not [w for w in caught if "categorical_feature" in str(w.message)]  # LightGBM's misleading warning
    infos = pipe[-1].booster_.dump_model()["feature_infos"]
    assert infos["Column_0"]["values"]  # the first column, the shop's code, is split as a category
    path = io.write_model(tmp_path / "model.skops", pipe)
    loaded = io.read_model(path, TRUSTED_TYPES)
    np.testing.assert_allclose(loaded.predict_proba(X), pipe.predict_proba(X))


def test_the_lightgbm_family_without_its_extra_is_one_line_naming_the_extra(monkeypatch):
    import sys

    from nblib.ml.training.families import check_hyperparameters

    monkeypatch.setitem(sys.modules, "lightgbm", None)  # as if the boost extra were not installed
    assert check_hyperparameters("lightgbm", "classification", {}) == (
        "lightgbm: needs the optional dependency of the 'boost' extra (pip install 'nblib[boost]')"
    )


def test_forests_refit_on_all_rows_draw_trees_from_the_rows_they_were_compared_on_when_short_of_time(monkeypatch):
    from sklearn.datasets import make_classification

    from nblib.ml.training.trainer import Budget

    X, y = make_classification(900, n_features=6, random_state=0)
    X, y = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)]), pd.Series(y)
    roles = infer_column_roles(X.assign(y=y), "y")
    features = make_feature_transformer(make_preprocessor(roles, target_type="binary"), roles)
    models = {"dummy": {}, "random_forest": {"n_estimators": 20}}
    kw = dict(task="classification", cv_folds=2, ensemble="none", learning_curve=False, random_state=0, n_jobs=1)
    roomy = train_models(X, y, features, models, screen_rows=300, **kw)
    assert roomy.model.steps[-1][1].max_samples == 0.5  # no budget: the forest grows with the rows
    monkeypatch.setattr(Budget, "short", lambda self, seconds: True)  # a budget the refit would overrun
    trained = train_models(X, y, features, models, screen_rows=300, **kw)
    forest = trained.model.steps[-1][1]
    assert forest.max_samples == 75  # 0.5 of a 150-row CV training part, not 0.5 of all 900 rows
    assert any("draw each tree from as many rows" in note for note in trained.notes)
