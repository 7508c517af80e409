import numpy as np
import pandas as pd
import pytest

from nblib.ml.preprocess import (
    GROUP_COLUMN,
    ColumnRoles,
    clean_frame,
    infer_column_roles,
    make_preprocessor,
    normalize_columns,
    split_summary,
    split_train_test,
)


@pytest.fixture(scope="module")
def cleaned(launches):
    return clean_frame(launches.frame, target="is_hit", drop_columns=["revenue_k"])


def test_clean_frame_keeps_every_row_and_reads_planted_problems(launches, cleaned):
    frame, report = cleaned.frame, cleaned.report
    assert "revenue_k" not in frame
    assert len(frame) == len(launches.frame) == report["rows_out"]  # duplicates are kept by default
    assert report["duplicates_exact_duplicates"] == launches.frame.duplicated().sum() > 0
    assert report["duplicates_near_duplicates"] > 0
    assert pd.api.types.is_datetime64_any_dtype(frame["release_date"])
    assert frame["release_date"].notna().mean() > 0.95  # all four formats parsed
    assert cleaned.parsers["release_date"]["kind"] == "date" and len(cleaned.parsers["release_date"]["formats"]) >= 4
    assert set(frame["category"].str.strip().str.casefold()) == set(frame["category"])
    assert frame["description"].str.contains("  ").sum() == 0
    steps = cleaned.changes_table()
    assert {"dropped", "read as dates", "duplicates found"} <= set(steps["what"])


def test_duplicate_groups_share_an_id(launches, cleaned):
    groups = cleaned.groups
    dup = launches.frame.duplicated(keep=False)
    assert groups[dup].duplicated(keep=False).all()
    assert groups.nunique() < len(groups)


def test_dropping_duplicates_is_opt_in_and_counted(launches):
    out = clean_frame(launches.frame, target="is_hit", drop_duplicates=True, drop_near_duplicates=True)
    assert out.report["rows_dropped"] == len(launches.frame) - len(out.frame) > 0
    assert not out.frame.duplicated().any()
    assert sum(c["rows"] for c in out.changes if c["what"] == "dropped") == out.report["rows_dropped"]


def test_distinct_records_with_different_titles_are_not_duplicates():
    frame = pd.DataFrame({"title": ["The Long Road", "A Short Walk", "The Long Road"],
                          "year": [2001.0, 2001.0, 2001.0], "y": [0, 1, 0]})
    out = clean_frame(frame, target="y")
    assert out.groups.tolist() == [0, 1, 0]


def test_clean_frame_keeps_index_and_does_not_modify_input(launches):
    before = launches.frame.copy()
    out = clean_frame(launches.frame, target="is_hit")
    assert launches.frame.equals(before)
    assert out.frame.index.isin(launches.frame.index).all()


def test_rows_without_target_are_dropped_and_said():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, None, 1]})
    out = clean_frame(frame, target="y")
    assert len(out.frame) == 2 and out.report["rows_missing_target"] == 1
    assert any("no value in the target" in c["why"] for c in out.changes)


def test_only_columns_that_carry_nothing_are_dropped():
    frame = pd.DataFrame({"empty": [None] * 6, "same": ["a"] * 6, "mostly_missing": [1.0] + [None] * 5,
                          "y": [0, 1] * 3})
    out = clean_frame(frame, target="y")
    assert list(out.frame.columns) == ["mostly_missing", "y"]
    assert set(out.report["columns_dropped"]) == {"empty", "same"}


def test_numbers_written_as_text_are_read():
    frame = pd.DataFrame({"amount": ["116,270.00", "$1,200", "12%", "7"] * 5, "y": [0, 1] * 10})
    out = clean_frame(frame, target="y")
    assert out.frame["amount"].tolist()[:4] == [116270.0, 1200.0, 12.0, 7.0]
    roles = infer_column_roles(out.frame, "y")
    assert roles.numeric == ["amount"]


def test_infer_roles(cleaned):
    roles = infer_column_roles(cleaned.frame, "is_hit")
    assert roles.text == ["description"]
    assert roles.date == ["release_date"]
    assert roles.high_cardinality == ["brand"]
    assert roles.categorical == ["category"]
    assert set(roles.boolean) == {"is_online_only", "has_influencer"}
    assert "launch_id" in roles.ignore and "is_hit" not in roles.features
    assert "identifier" in roles.notes["launch_id"]
    assert roles.table().loc["price", "role"] == "numeric"
    assert ColumnRoles.from_dict(roles.to_dict()) == roles


def test_unique_names_are_text_not_identifiers():
    frame = pd.DataFrame({"name": [f"Person {chr(65 + i % 26)}{i}" for i in range(40)], "y": [0, 1] * 20})
    assert infer_column_roles(frame, "y").text == ["name"]


def test_group_column_never_gets_a_role(cleaned):
    frame = cleaned.frame.assign(**{GROUP_COLUMN: cleaned.groups})
    assert GROUP_COLUMN not in infer_column_roles(frame, "is_hit").to_dict()["ignore"]


def test_overrides_win(cleaned):
    roles = infer_column_roles(cleaned.frame, "is_hit", {"categorical": ["n_competitors"]})
    assert "n_competitors" in roles.categorical and "n_competitors" not in roles.numeric


def test_roles_drop_moves_columns_to_ignore_with_a_note(cleaned):
    roles = infer_column_roles(cleaned.frame, "is_hit")
    roles.drop(["price"], "leak suspect")
    assert "price" in roles.ignore and "price" not in roles.features and roles.notes["price"] == "leak suspect"


def test_split_is_stratified_disjoint_and_seeded(cleaned):
    frame = cleaned.frame
    train, test = split_train_test(frame, "is_hit", test_size=0.25, stratify=True, random_state=1)
    assert not set(train.index) & set(test.index)
    assert len(train) + len(test) == len(frame)
    assert abs(train["is_hit"].mean() - test["is_hit"].mean()) < 0.01
    again, _ = split_train_test(frame, "is_hit", test_size=0.25, stratify=True, random_state=1)
    assert again.index.equals(train.index)
    summary = split_summary(train, test, "is_hit", "classification", ["no", "yes"])
    assert summary.loc["test", "rows"] == len(test) and "share yes" in summary


def test_group_aware_split_keeps_each_group_on_one_side(cleaned):
    train, test = split_train_test(cleaned.frame, "is_hit", test_size=0.2, stratify=True, random_state=0,
                                   groups=cleaned.groups)
    assert not set(cleaned.groups[train.index]) & set(cleaned.groups[test.index])
    assert abs(len(test) / len(cleaned.frame) - 0.2) < 0.02
    assert abs(train["is_hit"].mean() - test["is_hit"].mean()) < 0.02


def test_preprocessor_learns_from_training_rows_only(cleaned):
    frame = cleaned.frame
    roles = infer_column_roles(frame, "is_hit")
    train, test = split_train_test(frame, "is_hit", test_size=0.3, stratify=True, random_state=0)
    pre = make_preprocessor(roles, target_type="binary")
    Xt = pre.fit_transform(train[roles.features], train["is_hit"])
    assert Xt.shape[0] == len(train)
    imputer = pre.named_transformers_["numeric"][0]
    assert np.allclose(imputer.statistics_, train[roles.numeric].median())
    out = pre.transform(test[roles.features])
    assert out.shape[1] == Xt.shape[1] and not np.isnan(np.asarray(out.todense() if hasattr(out, "todense") else out)).any()


def test_preprocessor_merges_label_typos_learned_in_fit(cleaned):
    roles = infer_column_roles(cleaned.frame, "is_hit")
    pre = make_preprocessor(roles, target_type="binary").fit(cleaned.frame[roles.features], cleaned.frame["is_hit"])
    merger = pre.named_transformers_["categorical"][1]
    assert merger.mapping_[0] and all(len(v) > 3 for v in merger.mapping_[0].values())
    plain = make_preprocessor(roles, target_type="binary", merge_label_variants=False)
    assert plain.transformers[2][1].steps[1][1] == "passthrough"


def test_normalize_columns_is_stateless_and_parses_like_training(cleaned, launches):
    roles = infer_column_roles(cleaned.frame, "is_hit")
    a = normalize_columns(launches.frame.head(50), roles.to_dict(), parsers=cleaned.parsers)
    b = normalize_columns(launches.frame.head(50), roles.to_dict(), parsers=cleaned.parsers)
    assert a.equals(b) and pd.api.types.is_datetime64_any_dtype(a["release_date"])


def test_numbers_given_a_label_role_are_encoded(cleaned):
    frame = cleaned.frame
    roles = infer_column_roles(frame, "is_hit", {"categorical": ["n_competitors"], "high_cardinality": ["price"]})
    out = make_preprocessor(roles, target_type="binary").fit_transform(frame[roles.features], frame["is_hit"])
    assert out.shape[0] == len(frame)
