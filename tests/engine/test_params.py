from pathlib import Path

import pytest

from nblib.engine.errors import ParamsError
from nblib.engine.params import dump_params, params_sha256, parse_override
from nblib.params import Params, load_params

ROOT = Path(__file__).resolve().parents[2]
PARAMS_FILES = sorted((ROOT / "params").glob("*.yaml"))


@pytest.mark.parametrize("path", PARAMS_FILES, ids=lambda p: p.name)
def test_every_params_file_is_valid(path):
    params = load_params(path)
    assert params.name == path.stem
    assert params.data.target
    assert yaml_roundtrip(params) == params


def yaml_roundtrip(params: Params) -> Params:
    import yaml

    return Params.model_validate(yaml.safe_load(dump_params(params)))


def write(tmp_path, text, name="p.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, message",
    [
        ("data: {target: is_hit}\ntrain: {cv_fold: 3}", "train.cv_fold: unknown key (did you mean 'cv_folds'?)"),
        ("data: {target: is_hit}\ncompute: {njobs: 2}", "compute.njobs: unknown key (did you mean 'n_jobs'?)"),
        ("dta: {target: is_hit}", "dta: unknown key (did you mean 'data'?)"),
        ("data: {target: is_hit}\ntrain: {cv_folds: many}", "train.cv_folds: Input should be a valid integer"),
        ("data: {target: is_hit}\ntrain: {cv_folds: 1}", "train.cv_folds: Input should be greater than or equal to 2"),
        ("data: {source: generated}", "data.target: required key is missing"),
        ("data: {target: is_hitt}", "data.target: column 'is_hitt' not in the generated dataset (did you mean 'is_hit'?)"),
        ("data: {target: is_hit}\ntrain: {models: {xgb: {}}}", "train.models.xgb: unknown model family"),
        ("data: {target: is_hit}\ntrain: {models: {random_forest: {n_estimator: 5}}}",
         "train.models.random_forest.n_estimator: unknown hyperparameter of RandomForestClassifier "
         "(did you mean 'n_estimators'?)"),
        ("data: {target: is_hit}\ntrain: {models: {hist_gradient_boosting: {learning_rate: -1}}}",
         "train.models.hist_gradient_boosting.learning_rate: The 'learning_rate' parameter"),
        ("data: {target: is_hit, task: regresion}", "data.task: Input should be 'classification' or 'regression'"),
        ("data: {target: is_hit, source: nowhere.csv}", "data.source: file not found"),
        ("data: [1, 2]", "data: expected a mapping, got list"),
        ("data: {target: is_hit\n", "invalid YAML"),
        ("- a\n- b\n", "expected a mapping of sections"),
    ],
)
def test_rejected_with_one_line_naming_the_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ParamsError) as err:
        load_params(path)
    line = str(err.value)
    assert "\n" not in line
    assert line.startswith(str(path)) and message in line
    assert err.value.exit_code == 2


def test_missing_file():
    with pytest.raises(ParamsError, match="params file not found"):
        load_params("nope.yaml")


def test_overrides_and_merge(tmp_path):
    extra = write(tmp_path, "train: {cv_folds: 4}\nevaluate: {bootstrap: 10}", "extra.yaml")
    params = load_params([ROOT / "params/default.yaml", extra], ["train.cv_folds=3", "compute.n_jobs=1"])
    assert params.train.cv_folds == 3
    assert params.evaluate.bootstrap == 10
    assert params.compute.n_jobs == 1
    assert params.name == "extra"
    assert list(params.train.models) == ["logistic_regression", "random_forest", "hist_gradient_boosting"]
    with pytest.raises(ParamsError, match=r"-p train.cv_folds=x|train.cv_folds"):
        load_params(ROOT / "params/default.yaml", ["train.cv_folds=x"])


@pytest.mark.parametrize("text", ["train.cv_folds", "=3", "train..x=1"])
def test_bad_override_syntax(text):
    with pytest.raises(ParamsError, match="expected section.key=value"):
        parse_override(text)


def test_override_values_are_yaml_scalars():
    assert parse_override("a.b=[1, 2]") == (["a", "b"], [1, 2])
    assert parse_override("a.b=true") == (["a", "b"], True)
    assert parse_override("a.b=text") == (["a", "b"], "text")


def test_hash_is_stable_and_sensitive():
    a = load_params(ROOT / "params/smoke.yaml")
    assert params_sha256(a) == params_sha256(load_params(ROOT / "params/smoke.yaml"))
    assert params_sha256(a) != params_sha256(load_params(ROOT / "params/smoke.yaml", ["seed=8"]))


def test_user_csv_source(tmp_path, launches):
    csv = tmp_path / "mine.csv"
    launches.frame.rename(columns={"is_hit": "hit"}).head(100).to_csv(csv, index=False)
    params = load_params(write(tmp_path, "data: {source: mine.csv, target: hit, drop_columns: [revenue_k]}"))
    assert Path(params.data.source) == csv.resolve()
    with pytest.raises(ParamsError, match=r"data: column 'revenue' not in mine.csv \(did you mean 'revenue_k'\?\)"):
        load_params(write(tmp_path, "data: {source: mine.csv, target: hit, drop_columns: [revenue]}"))
    with pytest.raises(ParamsError, match="data.target: column 'is_hit' not in mine.csv"):
        load_params(write(tmp_path, "data: {source: mine.csv, target: is_hit}"))


def test_sections_for_cache_keys():
    params = load_params(ROOT / "params/smoke.yaml")
    sections = params.sections(("seed", "train"))
    assert sections["seed"] == 7 and sections["train"]["cv_folds"] == 2


@pytest.mark.parametrize("values, task, message", [
    ([0, 1, 2] * 10, "classification", "needs exactly 2 classes, found 3"),
    (["yes", "no"] * 10, "classification", "classes must be 0/1 or true/false"),
    (["a", "b"] * 10, "regression", "regression needs a numeric target"),
    ([0, 1] * 5, "classification", "only 10 rows"),
])
def test_target_values_checked_before_anything_runs(tmp_path, values, task, message):
    import pandas as pd

    from nblib.engine.errors import InputDataError

    pd.DataFrame({"x": range(len(values)), "y": values}).to_parquet(tmp_path / "d.parquet")
    path = write(tmp_path, f"data: {{source: d.parquet, target: y, task: {task}}}")
    with pytest.raises(InputDataError, match=message) as err:
        load_params(path)
    assert "d.parquet: column 'y' (data.target)" in str(err.value) and err.value.exit_code == 2


def test_default_models_follow_the_task(tmp_path):
    params = load_params(write(tmp_path, "data: {target: revenue_k, task: regression}"))
    assert "ridge" in params.train.models and "logistic_regression" not in params.train.models
    params = load_params(write(tmp_path, "data: {target: is_hit}"))
    assert "logistic_regression" in params.train.models


def test_class_weight_as_sklearn_expects():
    assert load_params(ROOT / "params/smoke.yaml").imbalance.sklearn_class_weight is None
    params = load_params(ROOT / "params/smoke.yaml", ["imbalance.class_weight=balanced"])
    assert params.imbalance.sklearn_class_weight == "balanced"
