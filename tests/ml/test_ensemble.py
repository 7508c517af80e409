import json

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import StackingClassifier, VotingClassifier, VotingRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import check_scoring, r2_score, roc_auc_score
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate
from sklearn.pipeline import Pipeline

from nblib.engine import artifacts as io
from nblib.ml.saved import TRUSTED_TYPES
from nblib.ml.training.ensembles import _direct_metric, evaluate_ensembles, rank_auc, select_weights
from nblib.ml.training.trainer import choose_model


def _on(columns, model=None):
    """A pipeline that sees only ``columns``: two of them on different columns are complementary."""
    return Pipeline(
        [("features", ColumnTransformer([("keep", "passthrough", columns)])), ("model", model or LogisticRegression())]
    )


def _cv(pipes, X, y, folds, *, scoring, task="classification"):
    """Per-fold scores and out-of-fold predictions, as the training stage hands them over."""
    scores, oof = {}, {}
    for name, pipe in pipes.items():
        n_classes = y.nunique() if task == "classification" else 1
        oof[name] = np.zeros((len(y), n_classes)) if n_classes > 2 else np.zeros(len(y))
        scores[name] = []
        for train, test in folds:
            model = pipe.fit(X.iloc[train], y.iloc[train])
            scores[name].append(check_scoring(model, scoring=scoring)(model, X.iloc[test], y.iloc[test]))
            if task == "classification":
                proba = model.predict_proba(X.iloc[test])
                oof[name][test] = proba[:, 1] if n_classes == 2 else proba
            else:
                oof[name][test] = model.predict(X.iloc[test])
    return scores, oof


@pytest.fixture(scope="module")
def binary():
    """The target depends on a and c alike; b and d are noise."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(600, 4)), columns=["a", "b", "c", "d"])
    y = pd.Series((rng.random(600) < 1 / (1 + np.exp(-1.5 * (X.a + X.c)))).astype(int))
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))
    return X, y, folds


def test_voting_wins_when_models_complement_each_other(binary):
    X, y, folds = binary
    pipes = {"left": _on(["a", "b"]), "right": _on(["c", "d"])}
    scores, oof = _cv(pipes, X, y, folds, scoring="roc_auc")
    result = evaluate_ensembles(pipes, scores, oof, folds, y, task="classification", scoring="roc_auc", kind="voting")
    assert result.winner == "voting" and result.members == ["left", "right"]
    gain, noise = result.gains["voting"]
    assert gain > noise > 0
    table = result.table
    assert table.loc["voting", "winner"] and table.loc["voting", "verdict"].startswith("winner:")
    assert "beaten by voting" in table.loc["left", "verdict"]
    # scored from the out-of-fold predictions = what the VotingClassifier itself scores fold by fold
    voting = result.build("voting")
    assert isinstance(voting, VotingClassifier) and voting.voting == "soft"
    direct = cross_validate(voting, X, y, cv=folds, scoring="roc_auc")["test_score"]
    np.testing.assert_allclose(result.scores["voting"], direct)
    np.testing.assert_allclose(result.oof["voting"], (oof["left"] + oof["right"]) / 2)
    json.dumps(result.to_dict(), allow_nan=False)


def test_the_single_model_is_kept_when_it_dominates(binary):
    X, y, folds = binary
    pipes = {"good": _on(["a", "c"]), "noise": _on(["b", "d"])}
    scores, oof = _cv(pipes, X, y, folds, scoring="roc_auc")
    result = evaluate_ensembles(pipes, scores, oof, folds, y, task="classification", scoring="roc_auc", kind="voting")
    assert result.winner == result.best_single == "good"
    verdict = result.table.loc["good", "verdict"]
    assert verdict.startswith("winner: best single model") and "fold noise" in verdict
    assert result.table.loc["voting", "verdict"].startswith("not kept")
    d = result.to_dict()
    assert d["winner"] == "good" and not d["candidates"]["voting"]["winner"] and "standard error" in d["rule"]
    assert isinstance(result.build("good"), Pipeline)


def test_stacking_runs_builds_and_saves(binary, tmp_path):
    X, y, folds = binary
    X, y = X.iloc[:150].reset_index(drop=True), y.iloc[:150].reset_index(drop=True)
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    pipes = {"left": _on(["a", "b"]), "right": _on(["c", "d"]), "noise": _on(["b", "d"])}
    scores, oof = _cv(pipes, X, y, folds, scoring="roc_auc")
    result = evaluate_ensembles(
        pipes,
        scores,
        oof,
        folds,
        y,
        task="classification",
        scoring="roc_auc",
        kind="both",
        top_k=2,
        X=X,
        groups=np.arange(150) // 2,
    )
    assert result.members == sorted(pipes, key=lambda n: -np.mean(scores[n]))[:2]
    assert len(result.scores["stacking"]) == 3 and result.oof["stacking"].shape == (150,)
    assert result.winner in ("voting", "stacking", result.best_single)
    assert any("duplicate groups" in note for note in result.notes)
    stack = result.build("stacking").fit(X, y)
    assert isinstance(stack, StackingClassifier) and stack.predict_proba(X).shape == (150, 2)
    loaded = io.read_model(io.write_model(tmp_path / "model.skops", stack), TRUSTED_TYPES)
    np.testing.assert_array_equal(loaded.predict_proba(X), stack.predict_proba(X))
    assert set(result.table["kind"]) == {"single", "voting", "stacking"}
    with pytest.raises(ValueError, match="unknown candidate 'blend'; choose from"):
        result.build("blend")


def test_multiclass_and_regression_voting():
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(300, 4)), columns=["a", "b", "c", "d"])
    y = pd.Series(np.digitize(X.a + X.c + rng.normal(scale=0.5, size=300), [-0.8, 0.8]))
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    pipes = {"left": _on(["a", "b"]), "right": _on(["c", "d"])}
    scores, oof = _cv(pipes, X, y, folds, scoring="roc_auc_ovr")
    result = evaluate_ensembles(
        pipes, scores, oof, folds, y, task="classification", scoring="roc_auc_ovr", kind="voting"
    )
    direct = cross_validate(result.build("voting"), X, y, cv=folds, scoring="roc_auc_ovr")["test_score"]
    np.testing.assert_allclose(result.scores["voting"], direct)
    assert result.winner == "voting"

    y = X.a + X.c + rng.normal(scale=0.3, size=300)
    folds = list(KFold(3, shuffle=True, random_state=0).split(X))
    pipes = {"left": _on(["a", "b"], LinearRegression()), "right": _on(["c", "d"], LinearRegression())}
    scoring = "neg_root_mean_squared_error"
    scores, oof = _cv(pipes, X, y, folds, scoring=scoring, task="regression")
    result = evaluate_ensembles(pipes, scores, oof, folds, y, task="regression", scoring=scoring, kind="voting")
    direct = cross_validate(result.build("voting"), X, y, cv=folds, scoring=scoring)["test_score"]
    np.testing.assert_allclose(result.scores["voting"], direct)
    assert isinstance(result.build("voting"), VotingRegressor)
    shown = result.shown_table()  # the page's table: RMSE positive, lowest (best) first
    assert (shown["mean"] > 0).all() and shown["mean"].is_monotonic_increasing
    assert shown.loc["voting", "mean"] == pytest.approx(-np.mean(result.scores["voting"]))


def test_bad_inputs_are_one_line_errors(binary):
    _, y, folds = binary
    args = (
        {"a": _on(["a"]), "b": _on(["b"])},
        {"a": [0.6] * 5, "b": [0.5] * 5},
        {"a": np.zeros(600), "b": np.zeros(600)},
        folds,
        y,
    )
    with pytest.raises(ValueError, match="ensemble kind must be one of selection, both, voting, stacking; got 'vote'"):
        evaluate_ensembles(*args, task="classification", scoring="roc_auc", kind="vote")
    with pytest.raises(ValueError, match="pass X="):
        evaluate_ensembles(*args, task="classification", scoring="roc_auc", kind="stacking")
    with pytest.raises(ValueError, match="top_k must be at least 2"):
        evaluate_ensembles(*args, task="classification", scoring="roc_auc", kind="voting", top_k=1)


def test_voting_over_our_pipelines_with_sparse_tfidf_fits_and_saves(launches, tmp_path):
    from nblib.ml.data.preprocess import clean_frame, infer_column_roles, make_preprocessor
    from nblib.ml.features import make_feature_transformer, make_text_vectorizer
    from nblib.ml.training.cv import build_pipeline
    from nblib.ml.training.threshold import with_threshold

    cleaned = clean_frame(launches.frame.iloc[:400], target="is_hit", drop_columns=["revenue_k", "reviews_first_week"])
    frame = cleaned.frame.reset_index(drop=True)
    roles = infer_column_roles(frame, "is_hit")
    X, y = frame[roles.features], frame["is_hit"].astype(int)
    features = make_feature_transformer(
        make_preprocessor(roles, target_type="binary"), roles, text=make_text_vectorizer(max_features=100)
    )
    pipes = {
        "logistic_regression": build_pipeline(features, "logistic_regression", "classification"),
        "hist_gradient_boosting": build_pipeline(
            features, "hist_gradient_boosting", "classification", {"max_iter": 10}, svd_components=4
        ),
    }
    assert roles.text, "the launches data should have a text column"
    folds = list(StratifiedKFold(2, shuffle=True, random_state=0).split(X, y))
    scores, oof = _cv(pipes, X, y, folds, scoring="roc_auc")
    result = evaluate_ensembles(pipes, scores, oof, folds, y, task="classification", scoring="roc_auc", kind="voting")
    model = result.build("voting").fit(X, y)
    tfidf = model.named_estimators_["logistic_regression"].named_steps["features"].transform(X.head(20))
    assert hasattr(tfidf, "tocsr"), "TF-IDF stays sparse for the linear member"
    model = with_threshold(model, 0.3)
    path = io.write_model(tmp_path / "model.skops", model)
    loaded = io.read_model(path, TRUSTED_TYPES)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


# --------------------------------------------------------------------------- the chosen model, one record


def test_chosen_model_round_trips_and_refuses_an_unknown_kind():
    from nblib.ml.training.cv import ChosenModel

    chosen = ChosenModel(
        "voting",
        "voting",
        0.81,
        0.02,
        [0.8, 0.82],
        members=["a", "b"],
        searched=True,
        cv_note="5-fold CV",
        scoring="roc_auc",
        folds=2,
    )
    data = json.loads(json.dumps(chosen.to_dict(), allow_nan=False))
    assert data["label"] == "voting of a, b"
    assert ChosenModel.from_dict(data) == chosen
    with pytest.raises(ValueError, match="single, selection, voting, stacking"):
        ChosenModel("x", "bagging", 0.5, 0.0)


def test_the_chosen_record_is_the_ensemble_that_won_with_its_own_cv(binary):
    from nblib.ml.training.cv import CVResult
    from nblib.ml.training.trainer import choose_model

    X, y, folds = binary
    pipes = {"left": _on(["a", "b"]), "right": _on(["c", "d"])}
    scores, oof = _cv(pipes, X, y, folds, scoring="roc_auc")
    found = evaluate_ensembles(pipes, scores, oof, folds, y, task="classification", scoring="roc_auc", kind="voting")
    cv = CVResult(
        scoring="roc_auc", folds=5, scores=scores, best_model=found.best_single, fit_seconds=dict.fromkeys(scores, 0.1)
    )
    chosen = choose_model(cv, found, searched={"left"})
    assert (chosen.name, chosen.kind, chosen.members) == ("voting", "voting", ["left", "right"])
    assert chosen.cv_scores == found.scores["voting"] and chosen.cv_mean == pytest.approx(
        np.mean(found.scores["voting"])
    )
    assert chosen.cv_mean > np.mean(scores[found.best_single])  # not the best single family's CV
    assert chosen.searched and "nested" in chosen.cv_note
    cv.chosen = chosen
    saved = cv.to_dict()
    assert saved["best_model"] == "voting" and saved["best_single"] == found.best_single
    assert saved["chosen"]["kind"] == "voting"
    # without an ensemble win the chosen model is the best single family, with that family's CV
    single = choose_model(cv, None)
    assert (single.name, single.kind, single.members) == (found.best_single, "single", [])
    assert single.cv_scores == scores[found.best_single]


def test_a_training_run_won_by_voting_saves_and_names_the_voting_model(monkeypatch):
    """Whatever the ensemble rule decides, the saved estimator, the record and the JSON agree."""
    from sklearn.ensemble import VotingClassifier

    from nblib.ml.training import ensembles as ensemble
    from nblib.ml.training import trainer as training

    real = ensemble.evaluate_ensembles

    def voting_wins(*args, **kwargs):
        found = real(*args, **kwargs)
        found.winner = "voting"  # force the outcome: this test is about what follows the decision
        return found

    monkeypatch.setattr(ensemble, "evaluate_ensembles", voting_wins)
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    y = pd.Series((X.a + rng.normal(size=300) > 0).astype(int))
    features = ColumnTransformer([("num", "passthrough", ["a", "b", "c"])])
    result = training.train(
        X,
        y,
        features,
        {"logistic_regression": {}, "dummy": {}},
        task="classification",
        cv_folds=3,
        ensemble="voting",
        threshold={"by": "f1"},
        learning_curve=False,
    )
    final = result.model
    while not isinstance(final, VotingClassifier):  # unwrap the decision-threshold wrapper
        final = final.estimator
    assert result.chosen.kind == "voting" and result.chosen.members == ["logistic_regression", "dummy"]
    assert [name for name, _ in final.estimators] == result.chosen.members
    assert result.chosen.cv_scores == result.ensemble.scores["voting"]
    saved = result.to_dict()
    assert saved["best_model"] == "voting" and saved["chosen"]["name"] == "voting"
    assert saved["best_single"] == "logistic_regression"
    assert "soft average of the members' out-of-fold predictions" in saved["chosen"]["cv_note"]


def test_stacking_on_each_outer_fold_uses_that_folds_searched_settings(binary):
    X, y, folds = binary
    pipes = {"left": _on(["a", "b"]), "right": _on(["c", "d"])}
    scores, oof = _cv(pipes, X, y, folds, scoring="roc_auc")
    per_fold = {"left": [_on(["a", "b"], LogisticRegression(C=0.1 * (k + 1))) for k in range(len(folds))]}
    found = evaluate_ensembles(
        pipes,
        scores,
        oof,
        folds,
        y,
        task="classification",
        scoring="roc_auc",
        kind="stacking",
        X=X,
        fold_pipelines=per_fold,
    )
    for k in range(len(folds)):
        members = dict(found.build("stacking", fold=k).estimators)
        assert pytest.approx(0.1 * (k + 1)) == members["left"].named_steps["model"].C
    assert dict(found.build("stacking").estimators)["left"].named_steps["model"].C == 1.0  # the refit: all rows
    with pytest.raises(ValueError, match="per-fold pipelines"):
        evaluate_ensembles(
            pipes,
            scores,
            oof,
            folds,
            y,
            task="classification",
            scoring="roc_auc",
            kind="voting",
            fold_pipelines={"left": per_fold["left"][:2]},
        )


# --------------------------------------------------------------------------- selection (Caruana)


def test_weights_sum_to_one_and_never_score_below_the_start():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    preds = {"good": y + rng.normal(0, 0.8, 300), "noise": rng.normal(size=300), "other": y + rng.normal(0, 0.9, 300)}
    weights = select_weights(preds, y, roc_auc_score)
    assert sum(weights.values()) == pytest.approx(1.0)
    assert "noise" not in weights  # pure noise never improves the blend
    blend = sum(w * np.asarray(preds[n]) for n, w in weights.items())
    assert roc_auc_score(y, blend) >= roc_auc_score(y, preds["good"])
    assert set(weights) == {"good", "other"}  # two independent noisy views average to a better one


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_rank_auc_equals_roc_auc_score_with_ties_and_classes(n_classes):
    rng = np.random.default_rng(n_classes)
    y = rng.integers(0, n_classes, 400)
    if n_classes == 2:
        scores = np.round(rng.random(400) + 0.3 * y, 1)  # rounded: many ties
        expected = roc_auc_score(y, scores)
    else:
        raw = np.round(rng.random((400, n_classes)), 1) + np.eye(n_classes)[y] * 0.2
        scores = raw / raw.sum(axis=1, keepdims=True)
        expected = roc_auc_score(y, scores, multi_class="ovr")
    assert rank_auc(y, scores) == pytest.approx(expected, abs=1e-12)
    scoring = "roc_auc" if n_classes == 2 else "roc_auc_ovr"
    metric = _direct_metric(check_scoring(None, scoring=scoring), "classification")
    assert metric(y, scores) == pytest.approx(expected, abs=1e-12)  # the path selection takes


def test_weighted_auc_scorers_keep_scikit_learns_metric():
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 2])
    p = np.full((10, 3), 1 / 3)
    p[np.arange(10), y] += 0.2
    p /= p.sum(axis=1, keepdims=True)
    metric = _direct_metric(check_scoring(None, scoring="roc_auc_ovr_weighted"), "classification")
    assert metric(y, p) == pytest.approx(roc_auc_score(y, p, multi_class="ovr", average="weighted"))


def test_a_useless_family_gets_no_weight_and_one_family_is_no_ensemble():
    y = np.array([0, 1] * 50)
    only = select_weights({"a": y + 0.1}, y, roc_auc_score)
    assert only == {"a": 1.0}


def test_selection_is_kept_with_its_weights_and_builds_a_weighted_voting(binary, tmp_path):
    X, y, folds = binary
    pipes = {"left": _on(["a", "b"]), "right": _on(["c", "d"]), "noise": _on(["b", "d"])}
    scores, oof = _cv(pipes, X, y, folds, scoring="roc_auc")
    result = evaluate_ensembles(
        pipes, scores, oof, folds, y, task="classification", scoring="roc_auc", kind="selection"
    )
    assert result.winner == "selection"
    assert set(result.weights) == {"left", "right"} and result.members == list(result.weights)
    assert sum(result.weights.values()) == pytest.approx(1.0)
    gain, noise = result.gains["selection"]
    assert gain > noise
    model = result.build("selection")
    assert isinstance(model, VotingClassifier) and model.voting == "soft"
    assert model.weights == list(result.weights.values())
    fitted = model.fit(X, y)
    path = io.write_model(tmp_path / "model.skops", fitted)
    loaded = io.read_model(path, TRUSTED_TYPES)
    np.testing.assert_allclose(loaded.predict_proba(X), fitted.predict_proba(X))
    chosen = choose_model(_cv_result(scores), result)
    assert chosen.kind == "selection" and chosen.members == ["left", "right"]
    assert "other folds only" in chosen.cv_note
    assert result.to_dict()["weights"] == result.weights


def test_a_saved_ensemble_holds_each_member_once_and_loads_whole(binary, tmp_path):
    """skops writes an object once per reference: named_estimators_ and a threshold wrapper's estimator_
    doubled the file twice over. for_saving leaves the copies out; restored rebuilds the bunch."""
    from nblib.ml.saved import for_saving, restored
    from nblib.ml.training.threshold import with_threshold

    X, y, _ = binary
    voting = VotingClassifier([("left", _on(["a", "b"])), ("right", _on(["c", "d"]))], voting="soft").fit(X, y)
    model = with_threshold(voting, 0.4)
    whole = io.write_model(tmp_path / "whole.skops", model)
    slim = io.write_model(tmp_path / "slim.skops", for_saving(model))
    assert slim.stat().st_size < 0.7 * whole.stat().st_size  # about half, less the shared overhead
    assert not hasattr(model, "estimator_")  # with_threshold keeps the frozen model once already
    assert hasattr(voting, "named_estimators_")  # the model in memory is not changed
    loaded = restored(io.read_model(slim, TRUSTED_TYPES))
    inner = loaded.estimator.estimator
    assert list(inner.named_estimators_) == ["left", "right"]
    assert inner.named_estimators_["right"] is inner.estimators_[1]
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), (model.predict_proba(X)[:, 1] >= 0.4).astype(int))
    again = restored(io.read_model(whole, TRUSTED_TYPES))  # a file saved whole loads as before
    assert list(again.estimator.estimator.named_estimators_) == ["left", "right"]


def test_the_selection_cv_is_nested_not_the_weights_fitted_on_all_rows(binary):
    """Fold k's weights come from the other folds: scores differ from the all-rows blend's scores."""
    X, y, folds = binary
    pipes = {"left": _on(["a", "b"]), "right": _on(["c", "d"]), "both": _on(["a", "c"])}
    scores, oof = _cv(pipes, X, y, folds, scoring="roc_auc")
    result = evaluate_ensembles(
        pipes, scores, oof, folds, y, task="classification", scoring="roc_auc", kind="selection"
    )
    y = np.asarray(y)
    everything = sum(w * oof[n] for n, w in result.weights.items())
    for k, (_, test) in enumerate(folds):
        rest = np.setdiff1d(np.arange(len(y)), test)
        weights = select_weights({n: p[rest] for n, p in oof.items()}, y[rest], roc_auc_score)
        blend = sum(w * oof[n] for n, w in weights.items())
        assert result.scores["selection"][k] == pytest.approx(roc_auc_score(y[test], blend[test]))
        np.testing.assert_allclose(result.oof["selection"][test], blend[test])
    assert not np.allclose(result.oof["selection"], everything) or len(result.weights) == 1


def test_regression_selection_weights_a_voting_regressor():
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(400, 4)), columns=list("abcd"))
    y = pd.Series(X.a * 2 + X.c * 2 + rng.normal(0, 0.5, 400))
    folds = list(KFold(5, shuffle=True, random_state=0).split(X))
    pipes = {"left": _on(["a", "b"], LinearRegression()), "right": _on(["c", "d"], LinearRegression())}
    scores, oof = _cv(pipes, X, y, folds, scoring="r2", task="regression")
    result = evaluate_ensembles(pipes, scores, oof, folds, y, task="regression", scoring="r2", kind="selection")
    assert result.winner == "selection"
    model = result.build("selection").fit(X, y)
    assert isinstance(model, VotingRegressor)
    assert r2_score(y, model.predict(X)) > max(r2_score(y, oof[n]) for n in pipes)


def _cv_result(scores):
    from nblib.ml.training.cv import CVResult

    cv = CVResult(scoring="roc_auc", folds=5)
    cv.scores = scores
    cv.best_model = max(scores, key=lambda n: np.mean(scores[n]))
    return cv
