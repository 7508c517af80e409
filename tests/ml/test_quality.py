import pandas as pd

from nblib.ml.data.quality import check_quality, findings_table, warnings_of


def test_finds_every_planted_problem(launches):
    report = check_quality(launches.frame, "is_hit", task="classification")
    kinds = {f["kind"] for f in report["findings"]}
    assert {"duplicates", "outliers", "dates", "labels", "target"} <= kinds
    assert report["exact_duplicates"] == launches.frame.duplicated().sum() > 0
    assert report["near_duplicates"] > 0
    assert "price" in report["outliers"] and report["outliers"]["price"]["negative"] > 0
    assert len(report["date_formats"]["release_date"]) >= 4
    assert "category" in report["label_variants"]
    assert report["missing"]["rating_preview"] > 0.1
    assert any("imbalanced" in f["message"] for f in report["findings"])


def test_one_finding_per_kind_most_serious_first(launches):
    frame = launches.frame.assign(**{f"amount_{i}": launches.frame["price"] for i in range(5)})
    report = check_quality(frame, "is_hit", task="classification")
    outliers = [f for f in report["findings"] if f["kind"] == "outliers"]
    assert len(outliers) == 1 and len(outliers[0]["details"]) >= 6
    table = findings_table(report["findings"])
    order = ["high", "medium", "low", "info"]
    assert list(table["severity"]) == sorted(table["severity"], key=order.index)
    assert all(w.startswith("[") for w in warnings_of(report["findings"]))


def test_heavily_missing_column_is_kept_with_a_warning():
    frame = pd.DataFrame({"a": [None] * 8 + [1.0, 2.0], "b": [None] * 10, "y": [0, 1] * 5})
    report = check_quality(frame, "y", task="classification", max_missing_fraction=0.5)
    assert report["heavily_missing_columns"] == ["a"] and report["empty_columns"] == ["b"]
    messages = " ".join(f["message"] for f in report["findings"])
    assert "kept with a missing-value indicator" in messages and "entirely empty" in messages


def test_label_typos_are_found():
    frame = pd.DataFrame({"c": ["electronics"] * 40 + ["electronis"] + ["home"] * 30 + ["hoe"], "y": [0, 1] * 36})
    groups = check_quality(frame, "y", task="classification")["label_variants"]["c"]
    assert sorted(groups["electronics"]) == ["electronics", "electronis"]
    assert sorted(groups["home"]) == ["hoe", "home"]


def test_entity_keys_and_row_numbers_are_findings():
    import numpy as np

    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame(
        {
            "rownames": np.arange(1, n + 1),
            "Subject": rng.integers(300, 340, n),
            "visit_date": pd.Series(pd.date_range("2020-01-01", periods=30))
            .dt.strftime("%Y-%m-%d")
            .sample(n, replace=True, random_state=0)
            .to_numpy(),
            "dose": rng.normal(size=n),
            "y": rng.integers(0, 2, n),
        }
    )
    report = check_quality(frame, "y", task="classification")
    entities = [f for f in report["findings"] if f["kind"] == "entities"]
    assert [f["severity"] for f in entities] == ["medium", "info"]
    assert entities[0]["columns"] == ["Subject"] and "set data.group: Subject" in entities[0]["message"]
    assert entities[1]["columns"] == ["rownames"]
    declared = check_quality(frame, "y", task="classification", group="Subject")
    assert [f["columns"] for f in declared["findings"] if f["kind"] == "entities"] == [["rownames"]]
