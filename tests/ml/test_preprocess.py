import numpy as np
import pandas as pd
import pytest

from nblib.ml.preprocess import (
    ColumnRoles,
    clean_frame,
    infer_column_roles,
    make_preprocessor,
    near_duplicate_mask,
    normalize_columns,
    split_summary,
    split_train_test,
)


@pytest.fixture(scope="module")
def cleaned(launches):
    frame, report = clean_frame(launches.frame, target="is_hit", drop_columns=["revenue_k"])
    return frame, report


def test_clean_frame_fixes_planted_problems(launches, cleaned):
    frame, report = cleaned
    assert "revenue_k" not in frame
    assert report["exact_duplicates_dropped"] == launches.frame.duplicated().sum()
    assert report["near_duplicates_dropped"] > 0
    assert report["rows_out"] == len(frame)
    assert pd.api.types.is_datetime64_any_dtype(frame["release_date"])
    assert frame["release_date"].notna().mean() > 0.95  # all four formats parsed
    assert set(frame["category"].str.strip().str.casefold()) == set(frame["category"])
    assert frame["description"].str.contains("  ").sum() == 0


def test_clean_frame_keeps_index_and_does_not_modify_input(launches):
    before = launches.frame.copy()
    frame, _ = clean_frame(launches.frame, target="is_hit")
    assert launches.frame.equals(before)
    assert frame.index.isin(launches.frame.index).all()


def test_rows_without_target_are_dropped():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, None, 1]})
    out, report = clean_frame(frame, target="y")
    assert len(out) == 2 and report["rows_missing_target"] == 1


def test_near_duplicates_ignore_ids_rounding_and_spacing():
    frame = pd.DataFrame({"id": ["a", "b", "c"], "price": [1.001, 1.004, 5.0], "text": ["A b", "a  b", "c"]})
    assert near_duplicate_mask(frame).tolist() == [False, True, False]


def test_infer_roles(cleaned):
    frame, _ = cleaned
    roles = infer_column_roles(frame, "is_hit")
    assert roles.text == ["description"]
    assert roles.date == ["release_date"]
    assert roles.high_cardinality == ["brand"]
    assert roles.categorical == ["category"]
    assert set(roles.boolean) == {"is_online_only", "has_influencer"}
    assert "launch_id" in roles.ignore and "is_hit" not in roles.features
    assert roles.table().loc["price", "role"] == "numeric"
    assert ColumnRoles.from_dict(roles.to_dict()) == roles


def test_overrides_win(cleaned):
    roles = infer_column_roles(cleaned[0], "is_hit", {"categorical": ["n_competitors"]})
    assert "n_competitors" in roles.categorical and "n_competitors" not in roles.numeric


def test_split_is_stratified_disjoint_and_seeded(cleaned):
    frame, _ = cleaned
    train, test = split_train_test(frame, "is_hit", test_size=0.25, stratify=True, random_state=1)
    assert not set(train.index) & set(test.index)
    assert len(train) + len(test) == len(frame)
    assert abs(train["is_hit"].mean() - test["is_hit"].mean()) < 0.01
    again, _ = split_train_test(frame, "is_hit", test_size=0.25, stratify=True, random_state=1)
    assert again.index.equals(train.index)
    summary = split_summary(train, test, "is_hit", "classification")
    assert summary.loc["test", "rows"] == len(test)


def test_preprocessor_learns_from_training_rows_only(cleaned):
    frame, _ = cleaned
    roles = infer_column_roles(frame, "is_hit")
    train, test = split_train_test(frame, "is_hit", test_size=0.3, stratify=True, random_state=0)
    pre = make_preprocessor(roles, target_type="binary")
    Xt = pre.fit_transform(train[roles.features], train["is_hit"])
    assert Xt.shape[0] == len(train)
    imputer = pre.named_transformers_["numeric"][0]
    assert np.allclose(imputer.statistics_, train[roles.numeric].median())
    out = pre.transform(test[roles.features])
    assert out.shape[1] == Xt.shape[1] and not np.isnan(np.asarray(out.todense() if hasattr(out, "todense") else out)).any()


def test_normalize_columns_is_stateless(cleaned, launches):
    roles = infer_column_roles(cleaned[0], "is_hit")
    a = normalize_columns(launches.frame.head(50), roles.to_dict())
    b = normalize_columns(launches.frame.head(50), roles.to_dict())
    assert a.equals(b)


def test_numbers_given_a_label_role_are_encoded(cleaned):
    frame, _ = cleaned
    roles = infer_column_roles(frame, "is_hit", {"categorical": ["n_competitors"], "high_cardinality": ["price"]})
    out = make_preprocessor(roles, target_type="binary").fit_transform(frame[roles.features], frame["is_hit"])
    assert out.shape[0] == len(frame)
