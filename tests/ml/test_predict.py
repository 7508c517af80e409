import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from nblib.ml.predict import check_output_path, predict_frame, write_table


def _model(n_classes):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=90)})
    y = np.arange(90) % n_classes
    return make_pipeline(FunctionTransformer(lambda f: f.to_numpy(dtype=float)), LogisticRegression()).fit(X, y)


def _columns(classes):
    return {"task": "classification", "classes": classes, "roles": {"numeric": ["x"]},
            "parsers": {"x": {"kind": "number", "examples": []}}}


def test_binary_labels_in_the_users_values_and_no_column_overwritten():
    frame = pd.DataFrame({"x": ["1,000", "-2"], "prediction": ["mine", "mine"]})
    out = predict_frame(_model(2), frame, _columns(["No", "Yes"]))
    assert list(out.columns) == ["x", "prediction", "proba", "prediction_1"]
    assert set(out["prediction_1"]) <= {"No", "Yes"} and out["prediction"].tolist() == ["mine", "mine"]


def test_multiclass_writes_a_probability_per_class():
    out = predict_frame(_model(3), pd.DataFrame({"x": [0.1, 0.2]}), _columns(["a", "b", "c"]))
    assert np.allclose(out[["proba_a", "proba_b", "proba_c"]].sum(axis=1), 1)
    assert set(out["prediction"]) <= {"a", "b", "c"}


def test_missing_feature_is_named():
    with pytest.raises(KeyError, match="'x'"):
        predict_frame(_model(2), pd.DataFrame({"y": [1]}), _columns(["No", "Yes"]))


@pytest.mark.parametrize("name", ["out.csv", "out.parquet"])
def test_any_text_reads_back(tmp_path, name):
    text = ['line\r\nbreak', 'carriage\ronly', 'quote " inside', 'comma, here', "", None]
    frame = pd.DataFrame({"t": text, "n": range(6)})
    back = pd.read_parquet(write_table(frame, tmp_path / name)) if name.endswith("parquet") else \
        pd.read_csv(write_table(frame, tmp_path / name))
    assert len(back) == 6 and back["t"].tolist()[:4] == text[:4] and back["n"].tolist() == list(range(6))


def test_output_paths_refused(tmp_path):
    data = tmp_path / "in.csv"
    data.write_text("x\n1\n")
    assert check_output_path(data, tmp_path / "o.parquet") == "parquet"
    for out, message in ((data, "is the input"), (tmp_path, "is a folder"), (tmp_path / "o.xlsx", "unknown output"),
                         (tmp_path / "nope" / "o.csv", "does not exist")):
        with pytest.raises(ValueError, match=message):
            check_output_path(data, out)
