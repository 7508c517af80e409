import pandas as pd

from nblib.ml.digest import cleaning_digest


def test_digest_says_what_changed_and_why_most_important_first():
    lines = cleaning_digest(
        {"rows_in": 100, "rows_out": 98, "rows_dropped": 2},
        [{"step": "rows", "what": "dropped", "rows": 2, "columns": [], "why": "no value in the target"},
         {"step": "columns", "what": "dropped", "rows": None, "columns": ["empty"], "why": "entirely missing"},
         {"step": "values", "what": "read as numbers", "rows": None, "columns": ["fee"], "why": "written as text"}],
        target={"classes": ["No", "Yes"], "positive_class": "Yes", "merged_spellings": {"Yes": ["yes "]}},
        leaks={"suspects": [{"columns": ["refund"], "action": "kept", "confidence": "likely", "evidence": "'refund': ..."},
                            {"columns": ["age"], "action": "kept", "confidence": "possible", "evidence": "'age': ..."}]},
        merges=pd.DataFrame([{"column": "plan", "variant": "premum", "merged_into": "premium", "rows": 3}]),
        roles={"ignore": ["id"], "notes": {"id": "an identifier"}},
        quality={"findings": [{"kind": "missing", "severity": "medium", "message": "'a' 70% missing, kept"}]},
    )
    assert lines[0].startswith("LEAK SUSPECT (kept): 'refund'") and lines[1].startswith("POSSIBLE LEAK")
    text = "\n".join(lines)
    for expected in ("100 in, 98 used (2 dropped: 2 no value in the target)", "columns dropped: 'empty'",
                     "read as numbers: 'fee'", "'id' (an identifier)", "'premum' → 'premium'",
                     "positive class: 'Yes'", "'Yes' ← 'yes '", "'a' 70% missing"):
        assert expected in text
