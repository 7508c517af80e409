"""What to do next, from a run's evidence (nblib.ml.evaluation.next_steps)."""

from __future__ import annotations

import numpy as np
import pytest

from nblib.ml.evaluation.next_steps import learning_curve_gain, next_steps


def curve(means: dict[int, float], metric="roc_auc", folds=3, spread=0.002):
    return [
        {"train_size": n, "fold": f, "valid_score": m + spread * (f - 1), "metric": metric}
        for n, m in means.items()
        for f in range(folds)
    ]


def kinds(steps):
    return [s.kind for s in steps]


def test_nothing_applies_nothing_is_suggested():
    flat = curve({100: 0.80, 300: 0.85, 600: 0.851})
    assert (
        next_steps(
            learning_curve=flat,
            leak_suspects=[{"columns": ["x"], "confidence": "possible", "action": "kept"}],
            class_counts={"a": 400, "b": 200},
            test_class_counts={"a": 120, "b": 60},
        )
        == []
    )


def test_a_still_rising_curve_asks_for_more_data():
    steps = next_steps(learning_curve=curve({100: 0.70, 300: 0.76, 600: 0.80}))
    assert kinds(steps) == ["more_data"]
    assert "0.760 at 300" in steps[0].why and "0.800 at 600" in steps[0].why


def test_rmse_falling_is_rising_skill_and_rmse_rising_is_not():
    falling = curve({200: 12.0, 400: 10.0, 800: 8.5}, metric="root_mean_squared_error", spread=0.05)
    assert learning_curve_gain(falling)["rising"]
    assert "rmse" in next_steps(learning_curve=falling)[0].why
    worse = curve({200: 8.5, 400: 10.0, 800: 12.0}, metric="root_mean_squared_error", spread=0.05)
    assert next_steps(learning_curve=worse) == []


def test_a_gain_within_fold_noise_is_not_rising():
    noisy = curve({100: 0.80, 600: 0.81}, spread=0.05)  # folds 0.76 .. 0.86: +0.01 is noise
    assert learning_curve_gain(noisy)["rising"] is False
    assert learning_curve_gain(curve({600: 0.8})) is None and learning_curve_gain(None) is None


def test_a_kept_likely_leak_says_how_to_drop_or_declare_it():
    suspects = [
        {"columns": ["refund_issued"], "confidence": "likely", "action": "kept"},
        {"columns": ["days_open"], "confidence": "likely", "action": "dropped"},
        {"columns": ["region"], "confidence": "possible", "action": "kept"},
    ]
    (step,) = next_steps(leak_suspects=suspects)
    assert step.kind == "leak" and "refund_issued" in step.why
    assert "days_open" not in step.why and "region" not in step.why
    assert "quality.leaks: drop" in step.action
    assert "data.columns.known_before_outcome: [refund_issued]" in step.action


def test_a_rare_class_in_data_or_in_test_is_named():
    (step,) = next_steps(
        class_counts={"bird": 900, "bat": 11, "deer": 300}, test_class_counts={"bird": 270, "bat": 2, "deer": 90}
    )
    assert step.kind == "rare_class" and "bat (11 rows, 2 in test)" in step.why and "deer" not in step.why
    assert "merge" in step.action and "drop" in step.action
    only_test = next_steps(class_counts={"a": 500, "b": 40}, test_class_counts={"a": 150, "b": 4})
    assert kinds(only_test) == ["rare_class"] and "b (40 rows, 4 in test)" in only_test[0].why


def test_an_entity_overlap_suggests_data_group_unless_it_is_the_group():
    suspects = [
        {
            "column": "vehicle_id",
            "values": 3000,
            "rows_per_value": 2.1,
            "overlap_rows": 4519,
            "overlap_values": 2100,
            "why": "id-like name",
        },
        {"column": "batch", "overlap_rows": 0, "overlap_values": 0},
    ]
    (step,) = next_steps(entity_suspects=suspects)
    assert step.kind == "entity" and "4,519 test rows" in step.why
    assert step.action.startswith("set data.group: vehicle_id")
    assert next_steps(entity_suspects=suspects, group="vehicle_id") == []


def test_missing_or_odd_values_are_read_tolerantly():
    assert (
        next_steps(
            learning_curve=[{"train_size": None}, {"valid_score": float("nan")}],
            leak_suspects=[None, {}],
            class_counts={},
            entity_suspects=[{"column": "x"}],
        )
        == []
    )


def test_order_is_leak_entity_rare_class_then_more_data():
    steps = next_steps(
        learning_curve=curve({100: 0.6, 600: 0.8}),
        leak_suspects=[{"columns": ["a"], "confidence": "likely", "action": "kept"}],
        class_counts={"x": 5, "y": 500},
        entity_suspects=[{"column": "patient_id", "overlap_rows": 749, "overlap_values": 700}],
    )
    assert kinds(steps) == ["leak", "entity", "rare_class", "more_data"]


def test_on_a_real_learning_curve(tmp_path):
    """scikit-learn's digits with a small forest: the held-out score still climbs with more rows."""
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier

    from nblib.ml.training.curves import learning_curve_frame

    X, y = load_digits(return_X_y=True, as_frame=True)
    frame = learning_curve_frame(
        RandomForestClassifier(n_estimators=15, random_state=0),
        X,
        y,
        cv=3,
        scoring="accuracy",
        train_sizes=(0.05, 0.15),
        n_jobs=1,
    )
    found = learning_curve_gain(frame.to_dict("records"))
    assert found["rising"] and found["gain"] > 0.02
    assert kinds(next_steps(learning_curve=frame.to_dict("records"))) == ["more_data"]
    assert np.isfinite(found["noise"])


@pytest.mark.parametrize("n", [1, 7])
def test_many_leaked_columns_are_listed_briefly(n):
    cols = [f"c{i}" for i in range(n)]
    (step,) = next_steps(leak_suspects=[{"columns": cols, "confidence": "likely", "action": "kept"}])
    assert ("more" in step.why) == (n > 5)
