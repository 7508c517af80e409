import pandas as pd

from nblib.ml.quality import (
    check_quality,
    date_formats,
    leak_warnings,
    leaky_columns,
    single_column_scores,
)


def test_finds_every_planted_problem(launches):
    report = check_quality(launches.frame, "is_hit", task="classification")
    text = "\n".join(report["warnings"])
    assert report["exact_duplicates"] == launches.frame.duplicated().sum() > 0
    assert report["near_duplicates"] > 0
    assert "price" in report["outliers"] and report["outliers"]["price"]["negative"] > 0
    assert len(report["date_formats"]["release_date"]) == 4 and "mixes 4 date formats" in text
    assert "category" in report["label_variants"]
    assert report["missing"]["rating_preview"] > 0.1
    assert "imbalanced" in text


def test_leak_is_found_from_training_rows(launches):
    scores = single_column_scores(launches.frame.drop(columns=["revenue_k"]), "is_hit", task="classification")
    assert leaky_columns(scores, 0.95) == ["reviews_first_week"]
    assert "reviews_first_week" in leak_warnings(scores, 0.95)[0]


def test_regression_scores(launches):
    scores = single_column_scores(launches.frame.drop(columns=["is_hit"]), "revenue_k", task="regression")
    assert all(0 <= v <= 1 for v in scores.values())
    assert max(scores, key=scores.get) == "marketing_budget"


def test_too_sparse_column_flagged():
    frame = pd.DataFrame({"a": [None] * 8 + [1.0, 2.0], "y": [0, 1] * 5})
    report = check_quality(frame, "y", task="classification", max_missing_fraction=0.5)
    assert report["too_sparse_columns"] == ["a"]


def test_date_formats_ignores_non_dates():
    assert date_formats(pd.Series(["red", "blue"])) == []
    assert date_formats(pd.Series([1, 2])) == []
    assert date_formats(pd.Series(["2024-01-01", "2024/02/03"])) == ["YYYY-MM-DD", "YYYY/MM/DD"]
