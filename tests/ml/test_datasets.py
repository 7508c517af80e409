import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from nblib.ml.data.datasets import (
    generated_columns,
    load_dataset,
    load_table,
    make_product_launches,
)


def test_same_seed_same_table():
    a, b = make_product_launches(300, random_state=5), make_product_launches(300, random_state=5)
    assert a.frame.equals(b.frame)
    assert a.true_proba.equals(b.true_proba)
    assert not a.frame.equals(make_product_launches(300, random_state=6).frame)


@pytest.mark.parametrize("n", [50, 777, 3000])
def test_any_size(n):
    data = make_product_launches(n)
    assert len(data.frame) == n == len(data.true_proba)
    assert list(data.frame.columns) == generated_columns()


def test_too_small_is_rejected():
    with pytest.raises(ValueError, match="n_rows"):
        make_product_launches(10)


def test_target_is_imbalanced_and_bayes_auc_below_one():
    data = make_product_launches(8000, random_state=0)
    prevalence = data.frame["is_hit"].mean()
    assert 0.10 <= prevalence <= 0.15
    oracle = roc_auc_score(data.frame["is_hit"], data.true_proba)
    assert 0.85 <= oracle <= 0.92


def test_planted_problems(launches):
    frame = launches.frame
    assert frame.duplicated().sum() >= 0.015 * len(frame)
    assert frame[["marketing_budget", "rating_preview", "release_date"]].isna().any().all()
    assert (frame["price"] < 0).any()
    assert frame["category"].nunique() > 6  # label noise
    leak_auc = roc_auc_score(frame["is_hit"], frame["reviews_first_week"])
    assert leak_auc > 0.97


def test_load_dataset_and_tables(tmp_path, launches):
    frame, truth = load_dataset("generated", n_rows=100, random_state=1)
    assert truth is not None and len(frame) == 100
    csv, pq = tmp_path / "d.csv", tmp_path / "d.parquet"
    launches.frame.head(20).to_csv(csv, index=False)
    launches.frame.head(20).to_parquet(pq)
    assert load_table(csv).shape == load_table(pq).shape == (20, len(generated_columns()))
    frame, truth = load_dataset(str(csv))
    assert truth is None and np.isclose(frame["price"].sum(), launches.frame["price"].head(20).sum())
    with pytest.raises(ValueError, match="unsupported"):
        load_table(tmp_path / "d.xlsx")


def test_a_table_in_partitions(tmp_path):
    """data.source as a folder or glob: partitions by name, hidden and _ files skipped, one kind, same columns."""
    from nblib.ml.data.datasets import load_table, table_files, table_root

    folder = tmp_path / "parts"
    (folder / "2026").mkdir(parents=True)
    pd.DataFrame({"x": [1, 2], "y": ["a", "b"]}).to_parquet(folder / "2026" / "p1.parquet")
    pd.DataFrame({"x": [3], "y": ["c"]}).to_parquet(folder / "p0.parquet")
    (folder / "_SUCCESS").write_text("")
    (folder / ".p0.parquet.crc").write_text("")
    assert [p.relative_to(folder).as_posix() for p in table_files(folder)] == ["2026/p1.parquet", "p0.parquet"]
    assert load_table(folder)["x"].tolist() == [1, 2, 3] and list(load_table(folder).index) == [0, 1, 2]
    assert table_root(folder / "*" / "*.parquet") == folder
    assert [p.name for p in table_files(folder / "*" / "*.parquet")] == ["p1.parquet"]

    for make, message in (
        (lambda f: (f / "a.csv").write_text("x\n1\n"), "mixes csv and parquet"),
        (lambda f: (f / "day=1").mkdir() or pd.DataFrame({"x": [1]}).to_parquet(f / "day=1" / "q.parquet"), "Hive"),
    ):
        bad = tmp_path / f"bad{len(message)}"
        shutil.copytree(folder, bad)
        make(bad)
        with pytest.raises(ValueError, match=message):
            table_files(bad)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no .csv, .tsv or .parquet files"):
        table_files(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no .csv"):
        table_files(tmp_path / "nothing-*.csv")


def test_predicting_partitions_refuses_two_that_would_share_an_output_name(tmp_path):
    from nblib.factory.predict import predict_partitions

    for day in ("a", "b"):
        (tmp_path / day).mkdir()
        (tmp_path / day / "part.csv").write_text("x\n1\n")
    (tmp_path / "a" / "part.csv.gz").write_bytes(b"")  # part.csv.gz and part.csv would both become part.csv
    with pytest.raises(ValueError, match="would both be written as"):
        predict_partitions(tmp_path / "model.skops", tmp_path / "a", tmp_path / "out")
    with pytest.raises(ValueError, match="is not an empty folder"):
        predict_partitions(tmp_path / "model.skops", tmp_path / "a", tmp_path / "b")
