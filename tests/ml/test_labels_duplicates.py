import pandas as pd

from nblib.ml.duplicates import duplicate_groups, duplicate_report, identifier_columns
from nblib.ml.labels import MergeRareVariants, label_merges_on


def test_typos_merge_into_frequent_labels_only():
    X = pd.DataFrame({"c": ["electronics"] * 50 + ["electronis"] + ["home"] * 40 + ["hoe", "beauy"]
                      + ["beauty"] * 30 + ["male"] * 20 + ["female"] * 20})
    mapping = MergeRareVariants().fit(X).mapping_[0]
    assert mapping == {"electronis": "electronics", "hoe": "home", "beauy": "beauty"}
    assert MergeRareVariants().fit(X).transform(pd.DataFrame({"c": ["hoe", "new"]})).tolist() == [["home"], ["new"]]


def test_codes_with_different_numbers_are_never_merged():
    X = pd.DataFrame({"brand": ["brand_001"] * 100 + ["brand_006"]})
    assert MergeRareVariants().fit(X).mapping_ == [{}]


def test_label_merges_on_reports_rows():
    frame = pd.DataFrame({"c": ["home"] * 30 + ["hoe"] * 2, "n": range(32)})
    table = label_merges_on(frame, ["c"])
    assert table.to_dict("records") == [{"column": "c", "variant": "hoe", "merged_into": "home", "rows": 2}]


def test_identifiers_are_codes_not_names():
    frame = pd.DataFrame({"id": [f"L{i:05d}" for i in range(50)], "name": [f"Ann Smith {i}" for i in range(50)],
                          "customer_id": range(50), "amount": range(50)})
    assert identifier_columns(frame) == ["id", "customer_id"]


def test_near_duplicates_never_ignore_free_text():
    frame = pd.DataFrame({"id": ["a1", "b2", "c3", "d4"], "title": ["Red Fox", "red  fox", "Blue Whale", "Red Fox"],
                          "price": [10.01, 10.02, 10.01, 99.0], "y": [1, 0, 1, 1]})
    groups = duplicate_groups(frame, ["y"])
    assert groups.tolist() == [0, 0, 2, 3]
    report = duplicate_report(frame, "y")
    assert report["near_duplicates"] == 1 and report["conflicting_groups"] == 1
