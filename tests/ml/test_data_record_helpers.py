"""The small data helpers 01/02/03 call instead of computing in a cell: columns picked, the
target column prepared, groups attached, the JSON records each stage writes."""

import numpy as np
import pandas as pd
import pytest

from nblib.ml.data import datasets, digest, eda, labels, leaks, preprocess
from nblib.ml.data.preprocess import GROUP_COLUMN, ColumnRoles
from nblib.ml.data.target import prepare_target_column
from nblib.ml.features.records import summary_record


def test_numeric_columns_leave_out_the_target_and_non_numbers():
    frame = pd.DataFrame({"price": [1.0], "name": ["a"], "units": [3], "flag": [True], "hit": [1]})
    assert eda.numeric_columns(frame, exclude=["hit"]) == ["price", "units"]
    assert eda.numeric_columns(frame, exclude=["not there"]) == ["price", "units", "hit"]


def test_oracle_frame_is_none_without_true_probabilities():
    assert datasets.oracle_frame(None) is None
    frame = datasets.oracle_frame(pd.Series([0.1, 0.9], index=[5, 6], name="true_proba"))
    assert list(frame.columns) == ["true_proba"] and list(frame.index) == [5, 6]


def test_prepare_target_column_replaces_only_the_target():
    frame = pd.DataFrame({"x": [1, 2, 3], "y": ["no", "yes", "no"]}, index=[7, 8, 9])
    clean, info = prepare_target_column(frame, "y", "classification")
    assert clean["y"].tolist() == [0, 1, 0] and clean["x"].tolist() == [1, 2, 3] and list(clean.index) == [7, 8, 9]
    assert frame["y"].tolist() == ["no", "yes", "no"], "the frame given is not changed"
    assert info["positive_class"] == "yes"


@pytest.mark.parametrize(
    ("task", "asked", "expected"),
    [("classification", True, True), ("classification", False, False), ("regression", True, False)],
)
def test_stratify_for(task, asked, expected):
    assert preprocess.stratify_for(task, asked) is expected


def test_with_groups_aligns_each_row_with_its_group():
    train = pd.DataFrame({"x": [1, 2]}, index=[4, 2])
    groups = pd.Series(["g0", "g1", "g2", "g3", "g4"], index=[0, 1, 2, 3, 4])
    out = preprocess.with_groups(train, groups)
    assert out[GROUP_COLUMN].tolist() == ["g4", "g2"] and GROUP_COLUMN not in train


def test_groups_of_reads_the_named_column_or_none():
    train = pd.DataFrame({"x": [1, 2], GROUP_COLUMN: ["a", "b"]})
    assert preprocess.groups_of(train, {"group_column": GROUP_COLUMN}).tolist() == ["a", "b"]
    assert preprocess.groups_of(train, {}) is None
    assert preprocess.groups_of(train.drop(columns=[GROUP_COLUMN]), {"group_column": GROUP_COLUMN}) is None


def test_columns_record_holds_target_info_and_the_group_column():
    roles = ColumnRoles(numeric=["x"], text=["t"])
    record = preprocess.columns_record(
        target="hit",
        task="classification",
        roles=roles,
        parsers={"d": {"kind": "date"}},
        target_info={"classes": [0, 1], "positive_class": 1},
    )
    assert list(record) == ["target", "task", "roles", "parsers", "classes", "positive_class", "group_column"]
    assert record["roles"] == roles.to_dict() and record["group_column"] == GROUP_COLUMN


def test_declared_in_keeps_only_columns_the_frame_has():
    assert leaks.declared_in(pd.DataFrame({"a": [1], "b": [2]}), ["b", "gone", "a"]) == ["b", "a"]
    assert leaks.declared_in(pd.DataFrame({"a": [1]}), []) == []


def test_suspect_columns_lists_every_suspect_whatever_its_action():
    report = leaks.LeakReport(
        policy="warn", suspects=[{"columns": ["a", "b"], "action": "kept"}, {"columns": ["c"], "action": "dropped"}]
    )
    assert leaks.suspect_columns(report) == ["a", "b", "c"]
    assert leaks.suspect_columns(leaks.LeakReport(policy="warn")) == []


def test_label_merges_for_uses_categorical_and_high_cardinality_columns_when_enabled():
    frame = pd.DataFrame(
        {"cat": ["home"] * 40 + ["hoe"] * 2, "brand": ["toys"] * 40 + ["tos"] * 2, "num": np.arange(42)}
    )
    roles = ColumnRoles(categorical=["cat"], high_cardinality=["brand"], numeric=["num"])
    found = labels.label_merges_for(frame, roles, enabled=True)
    assert set(found.applied["column"]) == {"cat", "brand"}
    off = labels.label_merges_for(frame, roles, enabled=False)
    assert off.applied.empty and off.proposed.empty and list(off.applied.columns) == list(found.applied.columns)


def test_cleaning_record_merges_report_changes_merges_digest_and_entities():
    merges = {"label_merges": [{"variant": "hoe"}], "label_proposals": []}
    record = digest.cleaning_record(
        {"rows_in": 10, "rows_out": 9}, [{"step": "dedupe"}], merges, ["a line"], {"suspects": []}
    )
    assert record == {
        "rows_in": 10,
        "rows_out": 9,
        "changes": [{"step": "dedupe"}],
        **merges,
        "digest": ["a line"],
        "entities": {"suspects": []},
    }


def test_summary_record_counts_features_and_lists_branches():
    branches = pd.DataFrame(
        {"features": [2, 5], "sparse": [False, True]}, index=pd.Index(["num", "text_t_0"], name="branch")
    )
    record = summary_record(np.zeros((4, 7)), branches, ["text 't': 5 terms"])
    assert record["n_features"] == 7 and isinstance(record["n_features"], int)
    assert [b["branch"] for b in record["branches"]] == ["num", "text_t_0"]
    assert record["notes"] == ["text 't': 5 terms"]
