import numpy as np
import pandas as pd

from nblib.ml.data.duplicates import (
    duplicate_groups,
    duplicate_report,
    entity_key_columns,
    entity_overlap,
    identifier_columns,
    index_columns,
    row_number_note,
)
from nblib.ml.data.labels import MergeRareVariants, label_merges_on


def test_typos_merge_into_frequent_labels_only():
    X = pd.DataFrame(
        {
            "c": ["electronics"] * 50
            + ["electronis"]
            + ["home"] * 40
            + ["hoe", "beauy"]
            + ["beauty"] * 30
            + ["male"] * 20
            + ["female"] * 20
        }
    )
    mapping = MergeRareVariants().fit(X).mapping_[0]
    assert mapping == {"electronis": "electronics", "hoe": "home", "beauy": "beauty"}
    assert MergeRareVariants().fit(X).transform(pd.DataFrame({"c": ["hoe", "new"]})).tolist() == [["home"], ["new"]]


def test_codes_with_different_numbers_are_never_merged():
    X = pd.DataFrame({"brand": ["brand_001"] * 100 + ["brand_006"]})
    assert MergeRareVariants().fit(X).mapping_ == [{}]


def test_label_merges_on_reports_rows():
    frame = pd.DataFrame({"c": ["home"] * 40 + ["hoe"] * 2, "n": range(42)})
    found = label_merges_on(frame, ["c"])
    assert found.applied.to_dict("records") == [
        {
            "column": "c",
            "variant": "hoe",
            "merged_into": "home",
            "rows": 2,
            "label_rows": 40,
            "edit": "1 letter dropped ('m')",
        }
    ]
    assert found.proposed.empty


def test_identifiers_are_codes_not_names():
    frame = pd.DataFrame(
        {
            "id": [f"L{i:05d}" for i in range(50)],
            "name": [f"Ann Smith {i}" for i in range(50)],
            "customer_id": range(50),
            "amount": [(7 * i) % 50 for i in range(50)],
        }
    )
    assert identifier_columns(frame) == ["id", "customer_id"]


def test_near_duplicates_never_ignore_free_text():
    frame = pd.DataFrame(
        {
            "id": ["a1", "b2", "c3", "d4"],
            "title": ["Red Fox", "red  fox", "Blue Whale", "Red Fox"],
            "price": [10.01, 10.02, 10.01, 99.0],
            "y": [1, 0, 1, 1],
        }
    )
    groups = duplicate_groups(frame, ["y"])
    assert groups.tolist() == [0, 0, 2, 3]
    report = duplicate_report(frame, "y")
    assert report["near_duplicates"] == 1 and report["conflicting_groups"] == 1


def test_row_numbers_are_found_named_or_not():
    n = 60
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "rownames": np.arange(1, n + 1),  # R's row names
            "Unnamed: 0": np.arange(n),  # pandas' to_csv(index=True)
            "X": np.arange(1, 3 * n, 3),  # R's read.csv name, monotone with gaps
            "index": np.arange(n, 0, -1),  # decreasing
            "position": np.arange(1, n + 1),  # any name: the row's position from 1
            "year": np.repeat(np.arange(2000, 2012), 5),  # repeats: a feature
            "weight": np.sort(rng.normal(70, 10, n)).round(2),  # monotone but not whole numbers
            "total": np.cumsum(rng.integers(1, 50, n)),  # monotone whole numbers, not positions, no index name
            "x": (np.arange(n) * 7) % n,  # unique whole numbers, not monotone
        }
    )
    assert index_columns(frame) == ["rownames", "Unnamed: 0", "X", "index", "position"]
    assert row_number_note(frame["rownames"]) == "row number (1..60, increasing, unique): not used as a feature"
    assert "decreasing" in row_number_note(frame["index"])
    # a training split keeps positions in its index, so an unnamed row number is still found
    part = frame.iloc[::3]
    assert "position" in index_columns(part) and "total" not in index_columns(part)
    # R row labels that are names (mtcars) are row names too; a repeated or missing value is not a row number
    labels = pd.DataFrame({"rownames": [f"car {i}" for i in range(n)], "...1": np.arange(1, n + 1)})
    assert index_columns(labels) == ["rownames", "...1"]
    assert index_columns(frame.assign(rownames=frame["rownames"].where(frame.index != 5))).count("rownames") == 0
    assert "rownames" in identifier_columns(frame)  # so duplicates are found in tables that keep row names


def test_near_duplicates_are_found_in_a_table_that_keeps_row_names():
    frame = pd.DataFrame({"rownames": range(1, 41), "a": [1.0, 2.0] * 20, "b": ["x", "y"] * 20, "y": [0, 1] * 20})
    assert duplicate_report(frame, "y")["groups"] == 2


def test_entity_keys_repeat_have_many_values_and_an_id_like_name_or_codes():
    rng = np.random.default_rng(1)
    n = 600
    frame = pd.DataFrame(
        {
            "patient_id": [f"P{i:04d}" for i in rng.integers(0, 150, n)],  # ~4 rows per patient
            "Subject": rng.integers(300, 330, n),  # numbers under an entity name
            "accident_index": [f"2019A{i:05d}" for i in rng.integers(0, 200, n)],
            "ward": [f"w{i}" for i in rng.integers(0, 12, n)],  # codes, but only 12 of them
            "age": rng.integers(18, 90, n),  # whole numbers, no entity name
            "region": rng.choice(list("abcdefghijklmno"), n),
            "launch_id": [f"L{i:05d}" for i in range(n)],  # unique per row: an identifier
            "lab_value": rng.normal(size=n),
        }
    )
    found = {s["column"]: s for s in entity_key_columns(frame)}
    assert set(found) == {"patient_id", "Subject", "accident_index"}
    assert found["Subject"]["values"] == 30 and found["Subject"]["rows_per_value"] == 20.0
    assert "id-like name" in found["patient_id"]["why"] and "codes" in found["patient_id"]["why"]
    coded = frame.rename(columns={"accident_index": "crash", "patient_id": "pt"})  # codes alone: >= 50 values
    assert {s["column"] for s in entity_key_columns(coded)} == {"Subject", "pt", "crash"}
    assert "id-like name" not in {s["column"]: s for s in entity_key_columns(coded)}["pt"]["why"]
    assert entity_key_columns(frame, ["patient_id", "Subject", "accident_index"]) == []


def test_codes_shared_by_dozens_of_rows_are_categories_not_entities():
    # the embedded data's brand: 'brand_006' codes, ~45 rows each; an id-like name still speaks
    rng = np.random.default_rng(2)
    brands = [f"brand_{i:03d}" for i in rng.integers(0, 100, 5000)]
    assert entity_key_columns(pd.DataFrame({"brand": brands})) == []
    assert [s["column"] for s in entity_key_columns(pd.DataFrame({"brand_id": brands}))] == ["brand_id"]


def test_entity_overlap_counts_test_rows_and_values_seen_in_training():
    train = pd.Series(["a", "a", "b", "c", None])
    test = pd.Series(["a", "b", "b", "d", None])
    assert entity_overlap(train, test) == (3, 2)


def test_member_numbers_are_not_entity_keys_and_most_rows_decide_not_most_values():
    # families: 300 of one person, 100 of four; each person's number within the family counts 1, 2, 3, 4
    family = np.concatenate([np.arange(300), np.repeat(np.arange(300, 400), 4)])
    member = np.concatenate([np.ones(300, int), np.tile([1, 2, 3, 4], 100)])
    tail = np.repeat(np.arange(5, 15), np.arange(12, 2, -1))  # rarer the larger: 1 .. 14
    frame = pd.DataFrame(
        {"family_id": np.concatenate([family, 400 + np.arange(len(tail))]), "person_no": np.concatenate([member, tail])}
    )
    found = entity_key_columns(frame)
    # most families have one row, but most rows (400 of 775) share their family with another row
    assert [s["column"] for s in found] == ["family_id"]
