from pathlib import Path

import pytest

from nblib.engine.errors import ParamsError
from nblib.engine.params import dump_params, params_sha256, parse_override
from nblib.factory.params import Params, load_params

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
        (
            "data: {target: is_hitt}",
            "data.target: column 'is_hitt' not in the generated dataset (did you mean 'is_hit'?)",
        ),
        ("data: {target: is_hit}\ntrain: {models: {xgb: {}}}", "train.models.xgb: unknown model family"),
        (
            "data: {target: is_hit}\ntrain: {models: {random_forest: {n_estimator: 5}}}",
            (
                "train.models.random_forest.n_estimator: unknown hyperparameter of RandomForestClassifier "
                "(did you mean 'n_estimators'?)"
            ),
        ),
        (
            "data: {target: is_hit}\ntrain: {models: {hist_gradient_boosting: {learning_rate: -1}}}",
            "train.models.hist_gradient_boosting.learning_rate: The 'learning_rate' parameter",
        ),
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


@pytest.mark.parametrize(
    "values, task, message",
    [
        (list(range(60)), "classification", "60 distinct values; classification takes at most 50 classes"),
        ([0] * 30 + [1] * 2, "classification", r"class '1' \(2\) has fewer than 3 rows"),
        (["a", "b"] * 10, "regression", "regression needs a numeric target"),
        ([0, 1] * 5, "classification", "only 10 rows"),
    ],
)
def test_target_values_checked_before_anything_runs(tmp_path, values, task, message):
    import pandas as pd

    from nblib.engine.errors import InputDataError

    pd.DataFrame({"x": range(len(values)), "y": values}).to_parquet(tmp_path / "d.parquet")
    path = write(tmp_path, f"data: {{source: d.parquet, target: y, task: {task}}}")
    with pytest.raises(InputDataError, match=message) as err:
        load_params(path)
    assert "d.parquet: column 'y' (data.target)" in str(err.value) and err.value.exit_code == 2


def test_a_rare_class_that_leaves_too_few_training_rows_is_refused_naming_it(tmp_path):
    import pandas as pd

    from nblib.engine.errors import InputDataError
    from nblib.factory.params import _target_problem

    y = pd.Series(["common"] * 40 + ["other"] * 20 + ["rare"] * 3)
    assert _target_problem(y, "classification", test_size=0.2) is None  # 2.4 rows left for training: 2 folds
    assert _target_problem(pd.Series(["a"] * 40 + ["b"] * 20 + ["c"] * 11), "classification") is None
    message = _target_problem(y, "classification", test_size=0.5)
    assert (
        message.startswith("class 'rare' (3 rows, about 1.5 for training) leaves fewer than 2 rows")
        and "preprocess.test_size 0.5" in message
    )
    # 23 rows at 0.1: scikit-learn's split holds ceil(2.3) = 3 test rows, enough for the 3 classes
    assert _target_problem(pd.Series(["a"] * 10 + ["b"] * 10 + ["c"] * 3), "classification", test_size=0.1) is None
    pd.DataFrame({"x": range(len(y)), "y": y}).to_parquet(tmp_path / "d.parquet")
    with pytest.raises(InputDataError, match="class 'rare' .* leaves fewer than 2 rows for training") as err:
        load_params(write(tmp_path, "data: {source: d.parquet, target: y}\npreprocess: {test_size: 0.5}"))
    assert err.value.exit_code == 2 and "\n" not in str(err.value)


def test_default_models_follow_the_task(tmp_path):
    params = load_params(write(tmp_path, "data: {target: revenue_k, task: regression}"))
    assert "ridge" in params.train.models and "logistic_regression" not in params.train.models
    params = load_params(write(tmp_path, "data: {target: is_hit}"))
    assert "logistic_regression" in params.train.models


def test_class_weight_as_sklearn_expects():
    assert load_params(ROOT / "params/smoke.yaml").imbalance.sklearn_class_weight is None
    params = load_params(ROOT / "params/smoke.yaml", ["imbalance.class_weight=balanced"])
    assert params.imbalance.sklearn_class_weight == "balanced"


# --------------------------------------------------------------------------- hostile params (issue 6)


def refused(path, overrides=(), seconds=1.0) -> str:
    """The one-line message refusing ``path``, checked to come fast and short."""
    import time

    start = time.perf_counter()
    with pytest.raises(ParamsError) as err:
        load_params(path, list(overrides))
    assert time.perf_counter() - start < seconds
    line = str(err.value)
    assert "\n" not in line and len(line) <= 600 and err.value.exit_code == 2
    return line


SMALL = "data: {target: is_hit, n_rows: 200}\n"
ALIAS_BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)


def test_alias_bomb_refused_at_once(tmp_path):
    assert len(ALIAS_BOMB) < 1200
    line = refused(write(tmp_path, ALIAS_BOMB))
    assert line.endswith(": line 5, column 4: aliases expand to more than 50,000 values")
    # also where it once passed validation: a model's hyperparameters
    nested = SMALL + "train:\n  models:\n    dummy:\n      " + ALIAS_BOMB.replace("\n", "\n      ")
    assert "aliases expand" in refused(write(tmp_path, nested))
    assert "aliases expand" in refused(ROOT / "params/smoke.yaml", [f"seed={{{ALIAS_BOMB.replace(chr(10), ', ')}}}"])


def test_aliases_and_merge_keys_within_bounds_still_work(tmp_path):
    text = SMALL + (
        "train: {models: {logistic_regression: &m {C: 0.5}, random_forest: {n_estimators: 5}}}\n"
        "evaluate: {<<: {bootstrap: 5, confidence: 0.9}, bootstrap: 6}\n"
    )
    params = load_params(write(tmp_path, text))
    assert params.train.models["logistic_regression"] == {"C": 0.5}
    assert (params.evaluate.bootstrap, params.evaluate.confidence) == (6, 0.9)


@pytest.mark.parametrize(
    "text",
    [
        "seed: " + "[" * 1000 + "]" * 1000,
        "seed:\n" + "".join("  " * i + "-\n" for i in range(1, 200)),
        "seed: " + "{a: " * 1000 + "1" + "}" * 1000,
        "a: &a " + "[" * 20 + "1" + "]" * 20 + "\nb: " + "[" * 20 + "*a" + "]" * 20,  # deep only once expanded
    ],
)
def test_deep_nesting_is_a_clean_error(tmp_path, text):
    line = refused(write(tmp_path, SMALL + text))
    assert "nested deeper than 32 levels" in line or "nesting depth" in line


def test_non_utf8_names_the_file_and_place(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(SMALL.encode() + "name: caf\xe9\n".encode("latin-1"))
    assert refused(path) == f"{path}: not UTF-8 text: byte 0xe9 at line 2, column 10"


def test_file_over_the_size_limit(tmp_path):
    path = write(tmp_path, SMALL + "name: " + "x" * 1_000_000)
    assert "the limit is 1,000,000" in refused(path)


@pytest.mark.parametrize(
    "text, key, line",
    [
        (SMALL + "seed: 1\nseed: 2\n", "'seed'", 3),
        (SMALL + "train:\n  cv_folds: 3\n  models: {}\n  cv_folds: 4\n", "'cv_folds'", 5),
        (SMALL + "train: {models: {logistic_regression: {class_weight: {0: 1, 0: 5}}}}", "0", 2),
    ],
)
def test_duplicate_keys_refused_naming_key_and_line(tmp_path, text, key, line):
    message = refused(write(tmp_path, text))
    assert f"line {line}," in message and f"duplicate key {key} (first at line" in message


def test_self_referencing_alias_in_an_override():
    line = refused(ROOT / "params/smoke.yaml", ["train.models=&a {x: *a}"])
    assert line.startswith("-p train.models=&a {x: *a}: ") and "alias refers to" in line
    assert "alias refers to" in refused(ROOT / "params/smoke.yaml", ["seed=&a [*a]"])


def test_unhashable_task(tmp_path):
    line = refused(write(tmp_path, "data: {target: is_hit, task: [classification]}"))
    assert "data.task: Input should be 'classification' or 'regression'" in line


@pytest.mark.parametrize("value, kind", [("false", "bool"), ("[]", "list"), ("0", "int"), ("''", "str")])
@pytest.mark.parametrize("section", ["train", "quality", "evaluate", "features.text"])
def test_a_section_must_be_a_mapping(tmp_path, section, value, kind):
    text = SMALL + (f"{section}: {value}" if "." not in section else f"features: {{text: {value}}}")
    assert refused(write(tmp_path, text)).endswith(f": {section}: expected a mapping, got {kind}")


def test_an_empty_section_takes_its_defaults(tmp_path):
    params = load_params(write(tmp_path, SMALL + "train:\nquality:\n"))
    assert params.train.cv_folds == 5 and "logistic_regression" in params.train.models


@pytest.mark.parametrize(
    "text, message",
    [
        ("train: {cv_folds: '5'}", "train.cv_folds: Input should be a valid integer (got '5')"),
        ("preprocess: {stratify: 'yes'}", "preprocess.stratify: Input should be a valid boolean (got 'yes')"),
        ("seed: true", "seed: Input should be a valid integer (got True)"),
        ("seed: -1", "seed: Input should be greater than or equal to 0"),
        ("evaluate: {bootstrap: 10.0}", "evaluate.bootstrap: Input should be a valid integer (got 10.0)"),
        ("data: {target: is_hit, n_rows: '200'}", "data.n_rows: Input should be a valid integer (got '200')"),
    ],
)
def test_no_silent_coercion(tmp_path, text, message):
    base = SMALL if not text.startswith("data") else ""
    assert message in refused(write(tmp_path, base + text))


def test_yaml_natural_values_still_work(tmp_path):
    params = load_params(
        write(
            tmp_path,
            SMALL + "evaluate: {bootstrap: 1, threshold: 0.3, gates: {roc_auc: 0}}\npreprocess: {stratify: yes}\n",
        )
    )
    assert params.evaluate.gates == {"roc_auc": 0.0} and isinstance(params.evaluate.gates["roc_auc"], float)
    assert params.preprocess.stratify is True
    params = load_params(write(tmp_path, SMALL + "quality: {outlier_iqr_factor: 3}"))
    assert params.quality.outlier_iqr_factor == 3.0


@pytest.mark.parametrize(
    "gate, message",
    [
        ("roc_auc: .nan", "evaluate.gates.roc_auc: Input should be a finite number (got nan)"),
        ("roc_auc: .inf", "evaluate.gates.roc_auc: Input should be a finite number (got inf)"),
        ("brier: -.inf", "evaluate.gates.brier: Input should be a finite number (got -inf)"),
        ("roc_auc: 1.5", "evaluate.gates: roc_auc lies between 0 and 1, got 1.5"),
        ("f1: -0.1", "evaluate.gates: f1 lies between 0 and 1, got -0.1"),
    ],
)
def test_gates_must_be_bounds_a_metric_can_meet(tmp_path, gate, message):
    assert refused(write(tmp_path, SMALL + f"evaluate: {{gates: {{{gate}}}}}")).endswith(message)
    assert "finite" in refused(ROOT / "params/smoke.yaml", ["evaluate.threshold=.nan"])


def test_long_name(tmp_path):
    line = refused(write(tmp_path, SMALL + "name: " + "n" * 300))
    assert "name: String should have at most 100 characters" in line and len(line) < 250
    stem = tmp_path / ("s" * 200 + ".yaml")
    stem.write_text(SMALL)
    assert load_params(stem).name == "s" * 100  # a long file name gives a name cut to size


def test_long_data_source(tmp_path):
    line = refused(write(tmp_path, "data: {target: is_hit, source: " + "s" * 300 + ".csv}"))
    assert "data.source: path too long" in line and len(line) < 300
    line = refused(write(tmp_path, "data: {target: is_hit, source: " + "d/" * 2100 + "x.csv}"))
    assert "data.source: path too long" in line


def test_long_values_are_cut_when_echoed(tmp_path):
    line = refused(write(tmp_path, SMALL + "train: {cv_folds: " + "v" * 900_000 + "}"))
    assert line.endswith("train.cv_folds: Input should be a valid integer (got '" + "v" * 78 + "…)")
    line = refused(write(tmp_path, SMALL + "train: {scoring: '" + "v\\n" * 5000 + "'}"))
    assert "…" in line and len(line) < 250
    line = refused(write(tmp_path, SMALL + "train: {models: {" + "m" * 5000 + ": {}}}"))
    assert "m" * 100 not in line
    assert len(refused(ROOT / "params/smoke.yaml", ["train.cv_folds=" + "x" * 10_000])) < 300


def test_class_weight_keys_stay_integers(tmp_path):
    text = SMALL + "train: {models: {logistic_regression: {class_weight: {0: 1, 1: 5}}}}"
    params = load_params(write(tmp_path, text))
    assert params.train.models["logistic_regression"]["class_weight"] == {0: 1, 1: 5}
    again = load_params(write(tmp_path, dump_params(params), "params.yaml"), check_data=False)
    assert again == params
    assert again.train.models["logistic_regression"]["class_weight"] == {0: 1, 1: 5}
    over = load_params(ROOT / "params/smoke.yaml", ["train.models.logistic_regression.class_weight={0: 1, 1: 5}"])
    assert over.train.models["logistic_regression"]["class_weight"] == {0: 1, 1: 5}


def test_bad_params_refused_without_importing_scikit_learn(tmp_path):
    import subprocess
    import sys

    path = write(tmp_path, "data: {target: is_hit}\ntrain: {cv_folds: many}\n")
    code = (
        "import sys; from nblib.cli.main import main; code = main(['run', sys.argv[1]]); "
        "print(code, sorted(m for m in ('sklearn', 'pandas', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], check=False, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.split() == ["2", "[]"], out.stdout + out.stderr
    assert "train.cv_folds: Input should be a valid integer" in out.stderr


def test_params_name_lists_are_the_registries():
    from nblib.factory import params
    from nblib.ml.evaluation import metrics as evaluate
    from nblib.ml.training import families as models

    assert params.METRICS == evaluate.METRICS
    assert params.DEFAULT_FAMILIES is models.DEFAULT_FAMILIES and params.FAMILY_NAMES is models.FAMILY_NAMES


def test_name_fits_a_folder_name(tmp_path):
    assert "name: too long for a folder name" in refused(write(tmp_path, SMALL + "name: " + "名" * 90))
    assert load_params(write(tmp_path, SMALL + "name: " + "é" * 100)).name == "é" * 100


def test_known_before_outcome_is_validated_like_the_other_column_lists(tmp_path):
    params = load_params(
        write(tmp_path, "data: {target: is_hit, columns: {known_before_outcome: [reviews_first_week]}}")
    )
    assert params.data.columns.known_before_outcome == ["reviews_first_week"]
    with pytest.raises(ParamsError, match=r"column 'reviews_first_wek' not in the generated dataset \(did you mean"):
        load_params(write(tmp_path, "data: {target: is_hit, columns: {known_before_outcome: [reviews_first_wek]}}"))
    with pytest.raises(ParamsError, match="data.columns.known_before_outcome: Input should be a valid list"):
        load_params(write(tmp_path, "data: {target: is_hit, columns: {known_before_outcome: reviews_first_week}}"))
    with pytest.raises(ParamsError, match="'reviews_first_week' is in both post_outcome and known_before_outcome"):
        load_params(
            write(
                tmp_path,
                "data: {target: is_hit, columns: {known_before_outcome: [reviews_first_week], "
                "post_outcome: [reviews_first_week]}}",
            )
        )


def test_data_group_names_a_kept_column_other_than_the_target(tmp_path, launches):
    frame = launches.frame.head(100).assign(patient_id=[f"P{i % 30:03d}" for i in range(100)])
    frame.to_csv(tmp_path / "mine.csv", index=False)
    assert (
        load_params(write(tmp_path, "data: {source: mine.csv, target: is_hit, group: patient_id}")).data.group
        == "patient_id"
    )
    assert load_params(write(tmp_path, "data: {source: mine.csv, target: is_hit}")).data.group is None
    for group, message in [
        ("patient", r"data.group: column 'patient' not in mine.csv \(did you mean 'patient_id'\?\)"),
        ("is_hit", "data.group: column 'is_hit' is the target"),
    ]:
        with pytest.raises(ParamsError, match=message) as err:
            load_params(write(tmp_path, f"data: {{source: mine.csv, target: is_hit, group: {group}}}"))
        assert "\n" not in str(err.value) and err.value.exit_code == 2
    with pytest.raises(ParamsError, match="data.group: column 'patient_id' is also in data.drop_columns"):
        load_params(
            write(tmp_path, "data: {source: mine.csv, target: is_hit, group: patient_id, drop_columns: [patient_id]}")
        )
    with pytest.raises(ParamsError, match="data.group: Input should be a valid string"):
        load_params(write(tmp_path, "data: {source: mine.csv, target: is_hit, group: [patient_id]}"))
    frame.assign(site="one").to_csv(tmp_path / "one.csv", index=False)
    from nblib.engine.errors import InputDataError

    with pytest.raises(InputDataError, match=r"column 'site' \(data.group\): 1 distinct value"):
        load_params(write(tmp_path, "data: {source: one.csv, target: is_hit, group: site}"))


def test_a_bad_data_group_exits_2_with_one_line_before_anything_runs(tmp_path, reports):
    import subprocess
    import sys

    path = write(tmp_path, "data: {target: is_hit, group: launch_idd}")
    done = subprocess.run(
        [sys.executable, "-m", "nblib", "run", str(path)], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .endswith("data.group: column 'launch_idd' not in the generated dataset (did you mean 'launch_id'?)")
    )
    assert not any(reports.glob("*/*/manifest.json"))
