import pandas as pd

from nblib.ml.data.digest import cleaning_digest


def test_digest_says_what_changed_and_why_most_important_first():
    lines = cleaning_digest(
        {"rows_in": 100, "rows_out": 98, "rows_dropped": 2},
        [
            {"step": "rows", "what": "dropped", "rows": 2, "columns": [], "why": "no value in the target"},
            {"step": "columns", "what": "dropped", "rows": None, "columns": ["empty"], "why": "entirely missing"},
            {"step": "values", "what": "read as numbers", "rows": None, "columns": ["fee"], "why": "written as text"},
        ],
        target={"classes": ["No", "Yes"], "positive_class": "Yes", "merged_spellings": {"Yes": ["yes "]}},
        leaks={
            "suspects": [
                {"columns": ["refund"], "action": "kept", "confidence": "likely", "evidence": "'refund': ..."},
                {"columns": ["age"], "action": "kept", "confidence": "possible", "evidence": "'age': ..."},
            ]
        },
        merges=pd.DataFrame([{"column": "plan", "variant": "premum", "merged_into": "premium", "rows": 3}]),
        roles={"ignore": ["id"], "notes": {"id": "an identifier"}},
        quality={"findings": [{"kind": "missing", "severity": "medium", "message": "'a' 70% missing, kept"}]},
    )
    assert lines[0].startswith("LEAK SUSPECT (kept): 'refund'") and lines[1].startswith("POSSIBLE LEAK")
    assert lines[2].startswith("LEAK? this run keeps a likely leak ('refund'): set quality.leaks: drop, or")
    text = "\n".join(lines)
    for expected in (
        "100 in, 98 used (2 dropped: 2 no value in the target)",
        "columns dropped: 'empty'",
        "read as numbers: 'fee'",
        "'id' (an identifier)",
        "'premum' → 'premium'",
        "positive class: 'Yes'",
        "'Yes' ← 'yes '",
        "'a' 70% missing",
    ):
        assert expected in text


def test_digest_names_columns_the_leak_check_skipped():
    lines = cleaning_digest(
        {"rows_in": 10, "rows_out": 10},
        [],
        target={},
        merges=pd.DataFrame(),
        roles={},
        leaks={"suspects": [], "known_before_outcome": ["deposit"]},
        quality={},
    )
    assert "not checked for leaks: 'deposit' (data.columns.known_before_outcome)" in lines
    assert not any(line.startswith("LEAK?") for line in lines)


def test_digest_puts_an_entity_overlap_right_after_leaks_and_says_row_numbers_once():
    entities = {
        "group": None,
        "overlap_rows": 0,
        "overlap_values": 0,
        "index_columns": ["rownames"],
        "test_rows": 40,
        "suspects": [
            {
                "column": "patient_id",
                "values": 60,
                "rows_per_value": 3.3,
                "overlap_rows": 31,
                "overlap_values": 12,
                "why": "id-like name",
                "role": "high_cardinality",
            },
            {
                "column": "site",
                "values": 12,
                "rows_per_value": 16.0,
                "overlap_rows": 0,
                "overlap_values": 0,
                "why": "id-like name",
                "role": "categorical",
            },
        ],
    }
    notes = {"rownames": "row number (1..200, increasing, unique): not used as a feature", "id": "an identifier"}
    lines = cleaning_digest(
        {"rows_in": 200, "rows_out": 200},
        [],
        target={},
        merges=pd.DataFrame(),
        entities=entities,
        leaks={"suspects": [{"columns": ["refund"], "action": "kept", "confidence": "likely", "evidence": "..."}]},
        roles={"ignore": ["id", "rownames"], "notes": notes},
        quality={"findings": [{"kind": "entities", "severity": "medium", "message": "'patient_id' looks like ..."}]},
    )
    leak_lines = [i for i, line in enumerate(lines) if "LEAK" in line]
    first = next(i for i, line in enumerate(lines) if line.startswith("ENTITY KEY?"))
    assert leak_lines and max(leak_lines) < first and lines[first + 2].startswith("rows: ")
    lines = lines[first:]
    assert lines[0] == (
        "ENTITY KEY? 'patient_id': 12 values in both train and test (31 of 40 test rows share one "
        "with training rows), so the test score is partly measured on entities the model has seen; "
        "set data.group: patient_id (id-like name; it is used as a feature (high_cardinality))"
    )
    assert lines[1] == "'rownames' is a row number (1..200, increasing, unique): not used as a feature"
    assert not any("site" in line for line in lines)  # no overlap, nothing to say
    assert "columns not used: 'id' (an identifier)" in lines and sum("rownames" in line for line in lines) == 1
    assert not any("looks like" in line for line in lines)  # 01's finding is said more precisely here
