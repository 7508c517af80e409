import numpy as np
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
