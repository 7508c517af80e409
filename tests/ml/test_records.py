"""Typed records between stages: each reads back to the same JSON, and a missing key fails here, not on a page."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline

from nblib.ml.evaluation.records import ABSENT, Promotion, RecordError
from nblib.ml.training.cv import ChosenModel, CVResult
from nblib.ml.training.search import SearchResult, search_family
from nblib.ml.training.threshold import ThresholdChoice, choose_threshold


def _json(record: dict) -> str:
    return json.dumps(record, allow_nan=False)


def _same_json(cls, record: dict) -> None:
    """``record`` written, read back with ``cls.from_dict`` and written again: the same bytes."""
    text = _json(record)
    assert _json(cls.from_dict(json.loads(text)).to_dict()) == text


# --------------------------------------------------------------------------- CV table


def _cv() -> CVResult:
    chosen = ChosenModel(
        "voting", "voting", 0.81, 0.02, [0.8, 0.83, float("nan")], ["lr", "rf"], True, "nested CV", "roc_auc", 3
    )
    return CVResult(
        scoring="roc_auc",
        folds=3,
        scores={"lr": [0.8, 0.79, 0.82], "rf": [0.7, 0.75, 0.71]},
        fit_seconds={"lr": 0.1234567, "rf": 1.5},
        best_model="lr",
        refit_seconds=0.42421,
        notes=["screened"],
        grouped=True,
        cv_notes={"rf": "nested CV (3 inner folds)"},
        chosen=chosen,
    )


def test_cv_table_reads_back_to_the_same_json():
    _same_json(CVResult, _cv().to_dict())
    unchosen = _cv()
    unchosen.chosen = None
    _same_json(CVResult, unchosen.to_dict())


def test_cv_table_reads_the_whole_cv_results_file():
    written = {**_cv().to_dict(), "seconds": 3.2, "search": {}, "threshold": None, "curves": None}
    cv = CVResult.from_dict(json.loads(_json(written)))
    assert cv.best_model == "lr" and cv.chosen.label == "voting of lr, rf" and cv.table.index[0] == "lr"
    assert cv.cv_note("lr") == "3-fold CV, settings fixed in advance, duplicate groups kept in one fold"


@pytest.mark.parametrize("key", ["scoring", "folds", "models"])
def test_cv_table_without_a_required_key_names_it(key):
    written = _cv().to_dict()
    del written[key]
    with pytest.raises(RecordError, match=f"cv_results.json: missing key '{key}'"):
        CVResult.from_dict(written)


def test_cv_table_model_without_scores_names_it():
    written = _cv().to_dict()
    del written["models"]["rf"]["scores"]
    with pytest.raises(RecordError, match="cv_results.json: models.rf: missing key 'scores'"):
        CVResult.from_dict(written)


# --------------------------------------------------------------------------- threshold


@pytest.fixture(scope="module")
def oof():
    rng = np.random.default_rng(0)
    y = (rng.random(200) < 0.2).astype(int)
    return y, np.clip(0.3 * y + rng.random(200) * 0.7, 0, 1)


@pytest.mark.parametrize(
    "by, kwargs", [("f1", {}), ("cost", {"cost": {"fp": 1.0, "fn": 5.0}}), ("fixed", {"fixed": 0.3})]
)
def test_threshold_reads_back_to_the_same_json(oof, by, kwargs):
    choice = choose_threshold(*oof, by=by, **kwargs)
    _same_json(ThresholdChoice, choice.to_dict())
    again = ThresholdChoice.from_dict(choice.to_dict())
    assert again.threshold == choice.threshold and list(again.table.columns) == list(choice.table.columns)


@pytest.mark.parametrize("key", ["threshold", "by", "at_threshold", "at_default"])
def test_threshold_without_a_required_key_names_it(oof, key):
    written = choose_threshold(*oof).to_dict()
    del written[key]
    with pytest.raises(RecordError, match=f"threshold record: missing key '{key}'"):
        ThresholdChoice.from_dict(written)


# --------------------------------------------------------------------------- search results


def test_search_result_of_a_real_search_reads_back_to_the_same_json():
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    y = pd.Series((X["a"] + rng.normal(size=60) > 0).astype(int))
    result = search_family(
        Pipeline([("model", LogisticRegression())]),
        X,
        y,
        family="logistic_regression",
        task="classification",
        method="random",
        n_trials=3,
        space={"C": {"low": 0.01, "high": 10.0, "log": True, "int": False}},
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
        scoring="roc_auc",
        n_jobs=1,
    )
    _same_json(SearchResult, result.to_dict())
    again = SearchResult.from_dict(result.to_dict())
    assert again.best_params == result.best_params and len(again.trials) == len(result.trials) == 3


def test_search_result_with_missing_scores_tuples_and_none_reads_back_to_the_same_json():
    trials = pd.DataFrame(
        {
            "trial": [0, 1, 2],
            "hidden_sizes": [(64,), (128, 64), (64,)],
            "max_depth": [None, 8, 16],
            "mean": [-1.5, float("nan"), -1.2],
            "std": [0.1, float("nan"), 0.2],
            "fit_seconds": [0.5, 0.1, 0.4],
            "elapsed_s": [0.5, 0.6, 1.0],
            "state": ["complete", "failed", "complete"],
        }
    )
    result = SearchResult(
        "mlp",
        "random",
        {"hidden_sizes": (64,), "max_depth": 16},
        -1.2,
        0.2,
        trials,
        cut_short=True,
        seconds=1.23456,
        n_fits=9,
        scoring="neg_root_mean_squared_error",
    )
    _same_json(SearchResult, result.to_dict())
    shown = SearchResult.from_dict(result.to_dict()).shown_trials()  # what a page shows: RMSE positive, best first
    assert shown["mean"].iloc[0] == 1.2


def test_search_result_of_no_trials_reads_back():
    empty = SearchResult("ridge", "grid", {}, float("nan"), float("nan"), pd.DataFrame(), scoring="r2")
    _same_json(SearchResult, empty.to_dict())


@pytest.mark.parametrize("key", ["family", "best_score", "trials"])
def test_search_result_without_a_required_key_names_it(key):
    written = SearchResult("ridge", "grid", {"alpha": 1.0}, 0.5, 0.1, pd.DataFrame({"mean": [0.5]})).to_dict()
    del written[key]
    with pytest.raises(RecordError, match=f"missing key '{key}'"):
        SearchResult.from_dict(written)


def test_searched_ridge_is_a_regression_record():  # the negated scorer survives the round trip
    X = pd.DataFrame({"a": np.arange(30.0)})
    y = pd.Series(2 * np.arange(30.0) + np.random.default_rng(0).normal(size=30))
    result = search_family(
        Pipeline([("model", Ridge())]),
        X,
        y,
        family="ridge",
        task="regression",
        method="grid",
        n_trials=1,
        space={"alpha": [0.1, 1.0]},
        cv=KFold(3, shuffle=True, random_state=0),
        scoring="neg_root_mean_squared_error",
        n_jobs=1,
    )
    again = SearchResult.from_dict(json.loads(_json(result.to_dict())))
    assert again.scoring == "neg_root_mean_squared_error" and again.best_score == result.best_score < 0


# --------------------------------------------------------------------------- promotion decision

_TEST = {"diff": 0.03, "lo": 0.01, "hi": 0.05, "p_value": 0.004, "test": "DeLong"}
_BASE = {
    "asked": True,
    "model_name": "nblib-x",
    "metric": "roc_auc",
    "level": 0.05,
    "challenger": {"data_sha256": "d", "test_rows_sha256": "t", "value": 0.9},
}
_CHAMP = {"version": 3, "run_id": "r", "label": "l", "nblib_run": "n", "data_sha256": "d", "test_rows_sha256": "t"}

#: Every shape tracking writes into promotion.json today (tracking.challenge / decide).
PROMOTIONS = [
    {"asked": False, "decision": "not asked", "reason": "evaluate.promote is off"},
    {**_BASE, "decision": "promote", "reason": "no champion yet: this model becomes the first", "test": None},
    {**_BASE, "champion": _CHAMP, "decision": "promote", "reason": "promote: roc_auc +0.03", "test": _TEST},
    {**_BASE, "champion": _CHAMP, "decision": "keep", "reason": "keep the champion: not better", "test": _TEST},
    {**_BASE, "champion": _CHAMP, "decision": "refused", "reason": "refused: other test rows", "test": None},
    {
        **_BASE,
        "decision": "leak",
        "leak_columns": ["repaid"],
        "reason": "not promoted: keeps a likely leak",
        "test": None,
    },
    {**_BASE, "decision": "unknown", "reason": "the tracking store failed (boom)"},
    {"decision": "promote", "reason": "not promoted: x", "promoted": False, "gated": True},
]


@pytest.mark.parametrize("record", PROMOTIONS, ids=[p["decision"] + str(i) for i, p in enumerate(PROMOTIONS)])
def test_promotion_reads_back_to_the_same_json(record):
    _same_json(Promotion, record)


def test_promotion_keeps_absent_apart_from_null():
    unknown = Promotion.from_dict(PROMOTIONS[-2])
    assert unknown.test is ABSENT and "test" not in unknown.to_dict()
    first = Promotion.from_dict(PROMOTIONS[1])
    assert first.test is None and first.to_dict()["test"] is None and first.promote


@pytest.mark.parametrize("key", ["decision", "reason"])
def test_promotion_without_a_required_key_names_it(key):
    record = dict(PROMOTIONS[3])
    del record[key]
    with pytest.raises(RecordError, match=f"promotion.json: missing key '{key}'"):
        Promotion.from_dict(record)


def test_promotion_refuses_an_unknown_decision_or_key():
    with pytest.raises(RecordError, match="decision must be one of"):
        Promotion.from_dict({"decision": "maybe", "reason": ""})
    with pytest.raises(RecordError, match="unknown key 'decison'"):
        Promotion.from_dict({"decision": "keep", "reason": "", "decison": "keep"})


def test_every_decision_tracking_makes_today_fits_the_record():
    from nblib import tracking

    decide = tracking.decide
    made = [
        decide(None, None, "roc_auc", 0.05),
        decide(_CHAMP, _TEST, "roc_auc", 0.05),
        decide(_CHAMP, {**_TEST, "diff": -0.03}, "roc_auc", 0.05),
        decide(_CHAMP, None, "rmse", 0.05),
        decide(None, None, "roc_auc", 0.05, leak=["repaid"]),
    ]
    assert [d["decision"] for d in made] == ["promote", "promote", "keep", "refused", "leak"]
    for decision in made:
        _same_json(Promotion, {**_BASE, **decision})


def test_the_summary_page_reads_promotion_through_the_record(tmp_path):
    from nblib.engine import artifacts as io
    from nblib.factory.pages import _promotion

    path = tmp_path / "promotion.json"
    assert _promotion(path) == {}  # a run without one
    io.write_json(path, PROMOTIONS[3])
    assert _promotion(path) == PROMOTIONS[3]
    io.write_json(path, {"asked": True, "decision": "keep"})
    with pytest.raises(RecordError, match="promotion.json: missing key 'reason'"):
        _promotion(path)


def test_a_new_promotion_writes_its_keys_in_field_order():
    record = Promotion(reason="keep the champion", decision="keep", test=None, asked=True)
    assert list(record.to_dict()) == ["asked", "decision", "reason", "test"]
