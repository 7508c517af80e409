"""One registry of metrics and one of model families: every other list is derived from them and agrees."""

import math
import subprocess
import sys

import numpy as np
import pytest
from pydantic import ValidationError

from nblib.ml.evaluation import metrics as evaluate
from nblib.ml.evaluation import scoring
from nblib.ml.evaluation.registry import METRIC_REGISTRY, TASKS, Metric, metric_range, primary_metric, test_metrics
from nblib.ml.training import families, spaces

_Y2 = np.array([0, 0, 1, 1, 0, 1, 0, 1])
_P2 = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.6, 0.7])
_Y3 = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2])
_P3 = np.array(
    [
        [0.7, 0.2, 0.1],
        [0.2, 0.6, 0.2],
        [0.1, 0.2, 0.7],
        [0.5, 0.3, 0.2],
        [0.3, 0.4, 0.3],
        [0.2, 0.2, 0.6],
        [0.6, 0.3, 0.1],
        [0.1, 0.8, 0.1],
        [0.3, 0.3, 0.4],
    ]
)
_YR = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
_PR = np.array([1.1, 1.8, 3.3, 3.9, 5.4])


def _computed() -> dict[str, dict[str, float]]:
    return {
        "binary": evaluate.classification_metrics(_Y2, _P2),
        "multiclass": evaluate.classification_metrics(_Y3, _P3),
        "regression": evaluate.regression_metrics(_YR, _PR),
    }


@pytest.mark.parametrize("example", ["binary", "multiclass", "regression"])
def test_every_computed_metric_is_registered_for_its_task_within_its_range(example):
    task = "regression" if example == "regression" else "classification"
    computed = _computed()[example]
    assert tuple(computed) == test_metrics(task)  # the same names, in the order pages show them
    for name, value in computed.items():
        metric = METRIC_REGISTRY[name]
        assert metric.task == task and metric.tested, name
        low, high = metric.range
        assert low <= value <= high, name


def test_directions_are_the_metrics_own():
    perfect = {
        "binary": evaluate.classification_metrics(_Y2, _Y2.astype(float)),
        "regression": evaluate.regression_metrics(_YR, _YR),
    }
    worse = _computed()
    for example in ("binary", "regression"):
        for name, best in perfect[example].items():
            direction = METRIC_REGISTRY[name].direction
            assert (best <= worse[example][name]) if direction == "min" else (best >= worse[example][name]), name


def test_log_loss_is_settled_lower_is_better_from_zero_to_infinity():
    log_loss = METRIC_REGISTRY["log_loss"]
    assert log_loss.direction == "min" and log_loss.range == (0.0, math.inf) and not log_loss.tested
    assert scoring.lower_is_better("log_loss") and scoring.lower_is_better("neg_log_loss")
    assert scoring.shown_scoring("neg_log_loss") == ("log_loss", -1.0)


def test_every_consumer_reads_the_registry():
    lower = {m.name for m in METRIC_REGISTRY.values() if m.direction == "min"}
    assert scoring.LOWER_IS_BETTER == lower >= {"rmse", "mae", "mse", "brier", "log_loss"}
    assert {task: test_metrics(task) for task in TASKS} == evaluate.METRICS
    assert evaluate.PRIMARY_METRIC == {"classification": "roc_auc", "regression": "rmse"}
    for metric in METRIC_REGISTRY.values():
        if metric.scorer and metric.scorer.startswith("neg_"):  # pages show the metric, not sklearn's negation
            assert scoring.shown_scoring(metric.scorer) == (metric.name, -1.0)
            assert metric.direction == "min", metric.name


def test_registered_scorers_exist_in_scikit_learn():
    from sklearn.metrics import get_scorer_names

    assert {m.scorer for m in METRIC_REGISTRY.values() if m.scorer} <= set(get_scorer_names())


@pytest.mark.parametrize("task", TASKS)
def test_params_gates_accept_exactly_the_registry_test_metrics(task):
    from nblib.factory.params import Params

    data = {"target": "y", "task": task}
    for name, metric in METRIC_REGISTRY.items():
        low, high = metric.range
        bound = 0.5 if low <= 0.5 <= high else low
        gates = {"data": data, "evaluate": {"gates": {name: bound}}}
        if metric.task == task and metric.tested:
            assert Params.model_validate(gates).evaluate.gates == {name: bound}
        else:
            with pytest.raises(ValidationError, match=f"evaluate.gates.{name}: not a {task} metric"):
                Params.model_validate(gates)


def test_params_gate_ranges_and_wording_come_from_the_registry():
    from nblib.factory.params import EvaluateParams

    assert metric_range("r2") == (-math.inf, 1.0) and metric_range("nope") == (-math.inf, math.inf)
    with pytest.raises(ValidationError, match="brier lies between 0 and 1, got 1.5"):
        EvaluateParams(gates={"brier": 1.5})
    lower = [m.name for m in METRIC_REGISTRY.values() if m.tested and m.direction == "min"]
    assert f"maximum for {', '.join(lower)})" in EvaluateParams.model_fields["gates"].description
    assert lower == ["brier", "rmse", "mae"]


def test_a_metric_refuses_an_unknown_direction_or_task():
    with pytest.raises(ValueError, match="direction must be 'max' or 'min'"):
        Metric("x", "classification", "up", (0.0, 1.0), "x")
    with pytest.raises(ValueError, match="task must be one of"):
        Metric("x", "ranking", "max", (0.0, 1.0), "x")


def test_one_primary_metric_per_task():
    for task in TASKS:
        assert sum(m.primary for m in METRIC_REGISTRY.values() if m.task == task) == 1
        assert primary_metric(task) in test_metrics(task)


# --------------------------------------------------------------------------- families


def test_family_lists_are_derived_from_the_family_registry():
    from nblib.factory import params
    from nblib.ml.training import trainer

    assert families.DEFAULT_FAMILIES == {
        "classification": ("logistic_regression", "random_forest", "hist_gradient_boosting", "gradient_boosting_deep"),
        "regression": ("ridge", "random_forest", "hist_gradient_boosting", "gradient_boosting_deep"),
    }
    assert {task: tuple(families.family_names(task)) for task in TASKS} == families.FAMILY_NAMES
    cost = families.FAMILY_COST
    assert trainer.FAMILY_COST is cost and set(cost) == {n for n, _ in families.FAMILIES}
    assert cost["dummy"] < cost["logistic_regression"] < cost["hist_gradient_boosting"] < cost["random_forest"]
    assert params.DEFAULT_FAMILIES is families.DEFAULT_FAMILIES and params.FAMILY_NAMES is families.FAMILY_NAMES
    assert {key: f.space for key, f in families.FAMILIES.items() if f.space is not None} == spaces.SPACES
    assert set(spaces.space_families("classification")) < set(families.family_names("classification"))


def test_the_params_default_models_are_the_registry_defaults():
    from nblib.factory.params import Params

    for task in TASKS:
        params = Params.model_validate({"data": {"target": "y", "task": task}})
        assert tuple(params.train.models) == families.DEFAULT_FAMILIES[task]


def test_every_family_builds_its_estimator_and_names_its_extra():
    for (name, task), family in families.FAMILIES.items():
        model = families.make_model(name, task)
        assert type(model) is family.factory, name
        assert family.extra == {"mlp": "torch", "lightgbm": "boost"}.get(name), name
        dense = ("hist_gradient_boosting", "gradient_boosting_deep", "mlp", "lightgbm")
        assert family.accepts_sparse == (name not in dense), name


def test_the_family_registry_imports_no_scikit_learn():
    code = (
        "import sys; import nblib.ml.training.families, nblib.ml.training.spaces, nblib.ml.evaluation.registry; "
        "print(sorted(m for m in ('sklearn', 'pandas', 'scipy', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["[]"], out.stdout + out.stderr
