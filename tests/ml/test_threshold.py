import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from nblib.engine import artifacts as io
from nblib.ml.saved import TRUSTED_TYPES
from nblib.ml.training.threshold import choose_threshold, plot_threshold, with_threshold


@pytest.fixture(scope="module")
def rare():
    """Imbalanced data (about 10 % positive), a fitted model and its out-of-fold probabilities."""
    X, y = make_classification(600, n_features=8, weights=[0.9], class_sep=0.8, random_state=0)
    X = pd.DataFrame(X, columns=[f"x{i}" for i in range(8)])
    model = make_pipeline(StandardScaler(), LogisticRegression())
    oof = cross_val_predict(model, X, y, cv=3, method="predict_proba")[:, 1]
    return X, y, model.fit(X, y), oof


def test_f1_threshold_on_a_toy_case():
    # positive from 0.35 up: rows 0.35, 0.4, 0.8 → TP 2, FP 1, F1 0.8; at 0.5 only 0.8 → F1 0.667
    choice = choose_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert choice.by == "f1"
    assert 0.1 < choice.threshold <= 0.35 and choice.threshold == pytest.approx(0.225)
    assert choice.at_threshold["f1"] == pytest.approx(0.8)
    assert choice.at_threshold["precision"] == pytest.approx(2 / 3) and choice.at_threshold["recall"] == 1
    assert choice.at_default["f1"] == pytest.approx(2 / 3)


def test_f1_threshold_is_the_best_over_all_cuts(rare):
    _, y, _, oof = rare
    choice = choose_threshold(y, oof)
    best = max(f1_score(y, oof >= t) for t in np.unique(oof))
    assert f1_score(y, oof >= choice.threshold) == pytest.approx(best)
    assert choice.at_threshold["f1"] == pytest.approx(best) and choice.at_threshold["f1"] > choice.at_default["f1"]
    assert choice.threshold < 0.5  # a rare positive class pulls the threshold down
    assert len(choice.table) <= 200 and {"precision", "recall", "f1", "balanced_accuracy"} <= set(choice.table)


def test_cost_threshold_falls_as_missed_positives_cost_more(rare):
    _, y, _, oof = rare
    thresholds = [choose_threshold(y, oof, by="cost", cost={"fp": 1, "fn": fn}).threshold for fn in (0.5, 2, 10, 50)]
    assert thresholds == sorted(thresholds, reverse=True) and thresholds[0] > thresholds[-1]
    choice = choose_threshold(y, oof, by="cost", cost={"fp": 1, "fn": 10})
    assert choice.at_threshold["cost"] == pytest.approx(choice.table["cost"].min())
    assert choice.at_threshold["cost"] <= choice.at_default["cost"]


def test_fixed_is_respected(rare):
    _, y, _, oof = rare
    choice = choose_threshold(y, oof, by="fixed", fixed=0.3, cost={"fp": 1, "fn": 5})
    assert choice.threshold == 0.3 and choice.by == "fixed"
    assert choice.at_threshold["f1"] == pytest.approx(f1_score(y, oof >= 0.3))
    assert "cost" in choice.at_threshold and "cost" in choice.table


def test_bad_inputs_are_one_line_errors():
    with pytest.raises(ValueError, match="threshold rule must be one of f1, cost, fixed; got 'F1'"):
        choose_threshold([0, 1], [0.2, 0.8], by="F1")
    with pytest.raises(ValueError, match="needs cost="):
        choose_threshold([0, 1], [0.2, 0.8], by="cost")
    with pytest.raises(ValueError, match="coded 0 and 1"):
        choose_threshold(["no", "yes"], [0.2, 0.8])
    with pytest.raises(ValueError, match="differ in length"):
        choose_threshold([0, 1, 1], [0.2, 0.8])


def test_to_dict_is_json_without_nan(rare):
    _, y, _, oof = rare
    d = choose_threshold(y, oof, by="cost", cost={"fp": 1, "fn": 4}).to_dict()
    json.dumps(d, allow_nan=False)
    assert set(d) >= {"threshold", "by", "at_threshold", "at_default", "table", "cost"}
    assert set(d["table"]) == {"threshold", "precision", "recall", "f1", "balanced_accuracy", "cost"}


def test_wrapped_model_predicts_at_the_threshold_and_round_trips(rare, tmp_path):
    X, y, model, oof = rare
    choice = choose_threshold(y, oof)
    wrapped = with_threshold(model, choice.threshold)
    proba = model.predict_proba(X)
    np.testing.assert_array_equal(wrapped.predict_proba(X), proba)
    np.testing.assert_array_equal(wrapped.predict(X), (proba[:, 1] >= choice.threshold).astype(int))
    assert (wrapped.predict(X) != model.predict(X)).any()
    path = io.write_model(tmp_path / "model.skops", wrapped)
    loaded = io.read_model(path, TRUSTED_TYPES)
    np.testing.assert_array_equal(loaded.predict(X), wrapped.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), proba)
    assert loaded.threshold == choice.threshold


def test_with_threshold_refuses_multiclass():
    X, y = make_classification(90, n_classes=3, n_informative=4, random_state=0)
    with pytest.raises(ValueError, match="binary classifier"):
        with_threshold(LogisticRegression().fit(X, y), 0.3)


@pytest.mark.parametrize("cost", [None, {"fp": 1, "fn": 3}])
def test_plot_threshold(rare, cost):
    _, y, _, oof = rare
    choice = choose_threshold(y, oof, by="cost" if cost else "f1", cost=cost)
    for given in (choice, choice.to_dict()):
        fig = plot_threshold(given)
        assert isinstance(fig, Figure)
        assert len(fig.axes) == (2 if cost else 1)
