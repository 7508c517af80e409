"""Label-typo merging: real categories that are spelt alike stay apart (issue 14); planted typos are merged."""

import json

import pandas as pd
import pytest

from nblib.ml.data.datasets import make_product_launches
from nblib.ml.data.digest import cleaning_digest
from nblib.ml.data.labels import MergeRareVariants, label_merges_on, single_edit
from nblib.ml.data.quality import check_quality

# (variant, label, variant rows, label rows) as a trial found them merged on real tables
DISTINCT = [
    ("parrots", "sparrows", 40, 900),
    ("urology", "virology", 35, 610),
    ("inpatient ward l", "inpatient ward a", 60, 1400),
    ("mesa airlines", "american airlines", 120, 4100),
    ("asiana airlines", "japan airlines", 25, 380),
    ("white-tailed kite", "white-tailed deer", 11, 2300),
    ("butler_llc", "battle_llc", 30, 700),
]


@pytest.mark.parametrize(("variant", "label", "n", "m"), DISTINCT)
@pytest.mark.parametrize("rare", [False, True])
def test_real_categories_spelt_alike_are_never_merged(variant, label, n, m, rare):
    X = pd.DataFrame({"c": [label] * m + [variant] * (2 if rare else n) + ["other"] * 300})
    rule = MergeRareVariants().fit(X)
    assert rule.mapping_ == [{}]
    assert rule.transform(pd.DataFrame({"c": [variant]})).tolist() == [[variant]]


def test_planted_typos_of_the_generated_table_are_merged_with_evidence():
    category = make_product_launches().frame["category"].dropna().str.strip().str.casefold()  # as cleaning leaves it
    rule = MergeRareVariants().fit(category.to_frame())
    assert {"hoe": "home", "electronis": "electronics", "beauy": "beauty"}.items() <= rule.mapping_[0].items()
    assert set(rule.mapping_[0]) == {"hoe", "electronis", "beauy", "tos", "spors", "gardn"}
    hoe = next(e for e in rule.evidence_[0] if e["variant"] == "hoe")
    assert hoe["edit"] == "1 letter dropped ('m')" and 0 < hoe["rows"] * 10 <= hoe["label_rows"]


def test_look_alikes_are_proposed_not_applied():
    # a first letter that differs ('bold' for 'gold') and a short word are not evidence of a slip
    X = pd.DataFrame({"c": ["gold"] * 300 + ["bold"] * 4 + ["premium"] * 200 + ["premum"] * 3})
    rule = MergeRareVariants().fit(X)
    assert rule.mapping_ == [{"premum": "premium"}]
    (proposal,) = rule.proposals_[0]
    assert proposal["variant"] == "bold" and proposal["merged_into"] == "gold"
    assert "first letter" in proposal["why_not"]
    assert rule.transform(pd.DataFrame({"c": ["west", "premum"]})).tolist() == [["west"], ["premium"]]
    found = label_merges_on(X, ["c"])
    assert list(found.applied["variant"]) == ["premum"] and list(found.proposed["variant"]) == ["bold"]
    assert found.records()["label_proposals"][0]["why_not"]


def test_a_frequent_variant_is_not_merged():
    # 'electronis' in 15 % of the rows is not a slip of the hand
    X = pd.DataFrame({"c": ["electronics"] * 2000 + ["electronis"] * 150 + ["home"] * 800})
    rule = MergeRareVariants().fit(X)
    assert rule.mapping_ == [{}] and [p["variant"] for p in rule.proposals_[0]] == ["electronis"]


def test_a_word_the_column_uses_elsewhere_is_not_a_typo():
    X = pd.DataFrame({"c": ["red fox"] * 500 + ["red fix"] * 3 + ["quick fix"] * 40})
    assert MergeRareVariants().fit(X).mapping_ == [{}]


def test_single_edit_kinds():
    assert single_edit("electronis", "electronics") == ("dropped", 9, "c")
    assert single_edit("hmoe", "home") == ("swapped", 1, "m")
    assert single_edit("hpme", "home") == ("replaced", 1, "p")
    assert single_edit("hoome", "home") == ("extra", 2, "o")
    assert single_edit("sparrows", "parrots") is None and single_edit("home", "home") is None


def test_quality_uses_the_same_rule_and_does_not_state_proposals_as_facts():
    frame = pd.DataFrame(
        {
            "c": ["sparrows"] * 300
            + ["parrots"] * 12
            + ["gold"] * 300
            + ["bold"] * 4
            + ["electronics"] * 300
            + ["electronis"] * 3,
            "y": [0, 1] * 459 + [0],
        }
    )
    report = check_quality(frame, "y", task="classification")
    assert report["label_variants"] == {"c": {"electronics": ["electronics", "electronis"]}}
    assert [p["variant"] for p in report["label_proposals"]["c"]] == ["bold"]
    (message,) = [f["message"] for f in report["findings"] if f["kind"] == "labels"]
    merged, proposed = message.split("look-alike labels NOT merged")
    assert "'electronis'" in merged and "bold" not in merged and "'bold' ~ 'gold'" in proposed
    assert "parrots" not in message


def test_digest_lists_applied_merges_with_evidence_and_proposals_apart():
    found = label_merges_on(pd.DataFrame({"c": ["gold"] * 300 + ["bold"] * 4 + ["home"] * 200 + ["hoe"] * 3}), ["c"])
    lines = cleaning_digest(
        {"rows_in": 507, "rows_out": 507},
        [],
        target={},
        leaks={},
        merges=found.applied,
        roles={},
        proposals=found.proposed,
    )
    (merged,) = [line for line in lines if line.startswith("label typos merged")]
    (proposed,) = [line for line in lines if line.startswith("look-alike labels proposed, not applied")]
    assert "'hoe' → 'home' (1 letter dropped ('m'); 3 rows vs 200)" in merged and "bold" not in merged
    assert "'bold' ~ 'gold'" in proposed and "first letter differs" in proposed


def test_the_summary_shows_merges_and_proposals_as_two_lists(tmp_path):
    from nblib.factory.pages import write_summary

    found = label_merges_on(pd.DataFrame({"c": ["gold"] * 300 + ["bold"] * 4 + ["home"] * 200 + ["hoe"] * 3}), ["c"])
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "cleaning.json").write_text(json.dumps(found.records()))
    page = write_summary(tmp_path, {"name": "t", "status": "ok"}).read_text()
    merged, suggested = page.split("Suggestions, <b>not applied</b>")
    assert "“hoe” → “home” (1 letter dropped" in merged and "bold" not in merged
    assert "“bold” ~ “gold”?" in suggested
