import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from nblib.factory.predict import write_table
from nblib.ml.predict import check_output_path, predict_frame


def _model(n_classes):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=90)})
    y = np.arange(90) % n_classes
    return make_pipeline(FunctionTransformer(lambda f: f.to_numpy(dtype=float)), LogisticRegression()).fit(X, y)


def _columns(classes):
    return {
        "task": "classification",
        "classes": classes,
        "roles": {"numeric": ["x"]},
        "parsers": {"x": {"kind": "number", "examples": []}},
    }


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
    text = ["line\r\nbreak", "carriage\ronly", 'quote " inside', "comma, here", "", None]
    frame = pd.DataFrame({"t": text, "n": range(6)})
    back = (
        pd.read_parquet(write_table(frame, tmp_path / name))
        if name.endswith("parquet")
        else pd.read_csv(write_table(frame, tmp_path / name))
    )
    assert len(back) == 6 and back["t"].tolist()[:4] == text[:4] and back["n"].tolist() == list(range(6))


def test_output_paths_refused(tmp_path):
    data = tmp_path / "in.csv"
    data.write_text("x\n1\n")
    assert check_output_path(data, tmp_path / "o.parquet") == "parquet"
    for out, message in (
        (data, "is the input"),
        (tmp_path, "is a folder"),
        (tmp_path / "o.xlsx", "unknown output"),
        (tmp_path / "nope" / "o.csv", "does not exist"),
    ):
        with pytest.raises(ValueError, match=message):
            check_output_path(data, out)


# --------------------------------------------------------------------------- bad cells, rejects, digest (issue 14)


def _mixed_model():
    """A fitted pipeline shaped like nblib's: a numeric column and a categorical one, by role name."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(1)
    X = pd.DataFrame({"x": rng.normal(size=60), "plan": rng.choice(["basic", "premium"], 60)})
    features = ColumnTransformer(
        [
            ("numeric", SimpleImputer(), ["x"]),
            (
                "categorical",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"), OneHotEncoder(handle_unknown="ignore")
                ),
                ["plan"],
            ),
        ]
    )
    model = make_pipeline(features, LogisticRegression()).fit(X, (X["x"] > 0).astype(int))
    columns = {
        "task": "classification",
        "classes": ["No", "Yes"],
        "roles": {"numeric": ["x"], "categorical": ["plan"]},
        "parsers": {},
    }
    return model, columns


def test_an_unreadable_cell_is_named_by_column_and_row():
    from nblib.ml.predict import BadRows

    model, columns = _mixed_model()
    frame = pd.DataFrame({"x": ["0.5", "abc", "1,200", None, "  ", "x9"], "plan": ["basic"] * 6})
    with pytest.raises(
        BadRows,
        match=r"^data row 2, column 'x': 'abc' is not a number \(2 bad cells in 2 rows: "
        r"2, 6\); .*--on-bad-rows skip",
    ):
        predict_frame(model, frame, columns)


def test_skip_scores_the_other_rows_and_returns_the_rejects_with_the_reason():
    from nblib.ml.predict import BadRows, predict_rows

    model, columns = _mixed_model()
    frame = pd.DataFrame(
        {
            "x": ["0.5", "abc", "-2", None],
            "plan": ["basic", "premium", "gold", "basic"],
            "reason": ["mine"] * 4,
            "customer": ["a", "b", "c", "d"],
        }
    )
    result = predict_rows(model, frame, columns, on_bad_rows="skip")
    assert result.scored["customer"].tolist() == ["a", "c", "d"] and result.scored["proba"].notna().all()
    assert result.rejects[["row", "reason_1", "customer"]].values.tolist() == [
        [2, "column 'x': 'abc' is not a number", "b"]
    ]
    assert result.unseen == {"plan": 1} and result.ignored == ["reason", "customer"]
    assert result.digest() == (
        "scored 3 rows, rejected 1 · unseen categories: 'plan' 1 row · ignored columns: 'reason', 'customer'"
    )
    all_bad = pd.concat([frame.iloc[1:2]] * 2)
    with pytest.raises(
        BadRows,
        match=r"^no row left to score: every one of the 2 rows has a cell that cannot be "
        r"read \(first: data row 1, column 'x': 'abc' is not a number\)$",
    ) as err:
        predict_rows(model, all_bad, columns, on_bad_rows="skip")
    assert err.value.rejects["row"].tolist() == [1, 2]


def test_a_header_only_frame_is_one_clear_error():
    model, columns = _mixed_model()
    with pytest.raises(ValueError, match=r"^no rows to score \(the file has a header only\)$"):
        predict_frame(model, pd.DataFrame({"x": [], "plan": []}), columns)


def test_predict_file_writes_rejects_beside_the_output(tmp_path):
    from nblib.engine import artifacts as io
    from nblib.factory.predict import predict_file, rejects_path

    model, columns = _mixed_model()
    art = tmp_path / "artifacts"
    art.mkdir()
    io.write_model(art / "model.skops", model)
    io.write_json(art / "columns.json", columns)
    data = tmp_path / "new.csv"
    data.write_text("x,plan\n1.5,basic\nabc,premium\n-1,basic\n")
    out = tmp_path / "scored.parquet"
    result = predict_file(art / "model.skops", data, out, on_bad_rows="skip")
    assert rejects_path(out) == tmp_path / "scored.rejects.csv"
    assert len(pd.read_parquet(out)) == 2 and len(result.rejects) == 1
    assert pd.read_csv(rejects_path(out))[["row", "reason"]].values.tolist() == [
        [2, "column 'x': 'abc' is not a number"]
    ]


# --------------------------------------------------------------------------- the threshold is the model's (issue 15)


def _thresholded(tmp_path, threshold):
    """A run's artifacts/ with a binary model that carries ``threshold``, and rows where it matters."""
    from nblib.engine import artifacts as io
    from nblib.ml.training.threshold import with_threshold

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=90)})
    model = with_threshold(LogisticRegression().fit(X, np.arange(90) % 2), threshold)  # saves with skops
    art = tmp_path / "artifacts"
    art.mkdir(parents=True)
    io.write_model(art / "model.skops", model)
    io.write_json(art / "columns.json", _columns(["No", "Yes"]))
    io.write_json(art / "metrics.json", {"task": "classification", "threshold": threshold})
    data = tmp_path / "new.csv"
    pd.DataFrame({"x": np.linspace(-3, 3, 41)}).to_csv(data, index=False)
    return art, data


def test_predict_uses_the_models_threshold_with_or_without_metrics_json(tmp_path):
    """predict fell back to 0.5 when metrics.json was missing: the model carries its threshold."""
    from nblib.factory.predict import predict_file

    art, data = _thresholded(tmp_path, 0.47)
    with_metrics = predict_file(art / "model.skops", data, tmp_path / "a.csv").scored
    (art / "metrics.json").unlink()
    without = predict_file(art / "model.skops", data, tmp_path / "b.csv").scored
    pd.testing.assert_frame_equal(without, with_metrics)
    expected = np.where(without["proba"] >= 0.47, "Yes", "No")
    assert without["prediction"].tolist() == expected.tolist()
    assert (without["proba"] < 0.5).any() and ((without["proba"] >= 0.47) & (without["proba"] < 0.5)).any()


def test_a_model_predicts_at_its_own_threshold_not_at_0_5(tmp_path):
    from nblib.engine import artifacts as io
    from nblib.ml.saved import TRUSTED_TYPES

    art, data = _thresholded(tmp_path, 0.53)
    model = io.read_model(art / "model.skops", TRUSTED_TYPES)
    frame = pd.read_csv(data)
    out = predict_frame(model, frame, _columns(["No", "Yes"]))
    codes = model.predict(frame)  # the wrapped model decides at 0.53
    assert out["prediction"].tolist() == np.array(["No", "Yes"])[codes].tolist()
    assert ((out["proba"] >= 0.5) & (out["proba"] < 0.53)).any()


def test_a_model_without_a_threshold_decides_by_its_own_predict():
    model = _model(2)
    frame = pd.DataFrame({"x": np.linspace(-3, 3, 41)})
    out = predict_frame(model, frame, _columns(["No", "Yes"]))
    assert out["prediction"].tolist() == np.array(["No", "Yes"])[model.predict(frame)].tolist()


def test_nblib_predict_scores_a_run_whose_metrics_json_is_gone(tmp_path, monkeypatch, capsys):
    """The command checked metrics.json (the old home of the threshold) against the manifest:
    the threshold is the model's now, so a run without metrics.json still scores, at that threshold."""
    from nblib.cli.main import main
    from nblib.engine import artifacts as io

    run = tmp_path / "reports" / "2026-12-04" / "110000-smoke"
    art, data = _thresholded(run, 0.47)
    outputs = {f"artifacts/{n}": io.sha256_file(art / n) for n in ("model.skops", "columns.json", "metrics.json")}
    io.write_json(
        run / "manifest.json",
        {
            "run_id": "2026-12-04/110000-smoke",
            "status": "succeeded",
            "stages": [{"name": "04_train", "status": "succeeded", "outputs": outputs}],
        },
    )
    (art / "metrics.json").unlink()
    monkeypatch.setenv("NBLIB_REPORTS", str(tmp_path / "reports"))
    assert main(["predict", str(run), str(data), "-o", str(tmp_path / "out.csv")]) == 0, capsys.readouterr().err
    out = pd.read_csv(tmp_path / "out.csv")
    assert out["prediction"].tolist() == np.where(out["proba"] >= 0.47, "Yes", "No").tolist()
