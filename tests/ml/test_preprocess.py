import json

import numpy as np
import pandas as pd
import pytest

from nblib.ml.data import digest
from nblib.ml.data.preprocess import (
    GROUP_COLUMN,
    ColumnRoles,
    clean_frame,
    entity_report,
    infer_column_roles,
    make_preprocessor,
    normalize_columns,
    split_groups,
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
    frame = pd.DataFrame(
        {"title": ["The Long Road", "A Short Walk", "The Long Road"], "year": [2001.0, 2001.0, 2001.0], "y": [0, 1, 0]}
    )
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
    frame = pd.DataFrame(
        {"empty": [None] * 6, "same": ["a"] * 6, "mostly_missing": [1.0] + [None] * 5, "y": [0, 1] * 3}
    )
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
    train, test = split_train_test(
        cleaned.frame, "is_hit", test_size=0.2, stratify=True, random_state=0, groups=cleaned.groups
    )
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
    assert (
        out.shape[1] == Xt.shape[1]
        and not np.isnan(np.asarray(out.todense() if hasattr(out, "todense") else out)).any()
    )


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


# --------------------------------------------------------------------------- row numbers and entities


def _visits(n_patients=150, seed=0):
    """A clinical-like table: several visits per patient, the outcome partly a patient trait."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 9, n_patients)
    patient = np.repeat([f"P{i:04d}" for i in range(n_patients)], sizes)
    trait = np.repeat(rng.normal(size=n_patients), sizes)
    lab = rng.normal(size=len(patient))
    y = (trait + 0.5 * lab + rng.normal(scale=0.5, size=len(patient)) > 0).astype(int)
    return pd.DataFrame(
        {
            "rownames": np.arange(1, len(patient) + 1),
            "patient_id": patient,
            "age": np.repeat(rng.integers(20, 90, n_patients), sizes),
            "lab": lab.round(3),
            "y": y,
        }
    )


def test_row_numbers_are_never_features_named_or_written_by_to_csv(launches, tmp_path):
    frame = launches.frame.head(400)
    frame.to_csv(tmp_path / "with_index.csv")  # index=True: 'Unnamed: 0' when read back
    read = pd.read_csv(tmp_path / "with_index.csv").assign(rownames=lambda f: np.arange(1, len(f) + 1))
    cleaned = clean_frame(read, target="is_hit", drop_columns=["revenue_k"])
    train, test = split_train_test(
        cleaned.frame, "is_hit", test_size=0.25, stratify=True, random_state=0, groups=cleaned.groups
    )
    roles = infer_column_roles(train, "is_hit")
    for column in ("Unnamed: 0", "rownames"):
        assert column in roles.ignore and column not in roles.features
        assert roles.notes[column].startswith("row number (") and "not used as a feature" in roles.notes[column]
    assert "n_competitors" in roles.numeric and "price" in roles.numeric  # genuine numbers stay features
    assert entity_report(train, test, target="is_hit", roles=roles)["index_columns"] == ["Unnamed: 0", "rownames"]
    # a user who wants the column anyway says so
    assert "rownames" in infer_column_roles(train, "is_hit", {"numeric": ["rownames"]}).numeric


def test_split_groups_join_duplicate_groups_and_entities():
    frame = pd.DataFrame({"who": ["a", "b", "a", "c", None, "d", None]}, index=[10, 11, 12, 13, 14, 15, 16])
    duplicates = pd.Series([0, 1, 2, 1, 4, 4, 6], index=frame.index)  # rows 11+13 and 14+15 are duplicates
    assert split_groups(frame, duplicates).tolist() == [0, 1, 2, 1, 4, 4, 6]
    # 'a' joins rows 0 and 2; duplicates join 'b' with 'c' and the missing-valued row 4 with 'd'
    assert split_groups(frame, duplicates, "who").tolist() == [0, 1, 0, 1, 4, 4, 6]
    assert split_groups(frame, None, "who").tolist() == [0, 1, 0, 3, 4, 5, 6]  # a missing value is its own entity
    with pytest.raises(ValueError, match="data.group: column 'site' is not in the cleaned table"):
        split_groups(frame, duplicates, "site")


def test_data_group_keeps_each_entity_on_one_side_and_out_of_the_features():
    cleaned = clean_frame(_visits(), target="y")
    groups = split_groups(cleaned.frame, cleaned.groups, "patient_id")
    train, test = split_train_test(cleaned.frame, "y", test_size=0.2, stratify=True, random_state=0, groups=groups)
    assert not set(train["patient_id"]) & set(test["patient_id"])
    assert abs(len(test) / len(cleaned.frame) - 0.2) < 0.05
    roles = infer_column_roles(train, "y", group="patient_id")
    assert "patient_id" in roles.ignore and "patient_id" not in roles.features
    assert roles.notes["patient_id"].startswith("the entity of each row (data.group)")
    report = entity_report(train, test, target="y", roles=roles, group="patient_id")
    assert report["group"] == "patient_id" and report["overlap_rows"] == 0 and report["overlap_values"] == 0
    assert report["suspects"] == [] and report["index_columns"] == ["rownames"]
    assert report["test_rows"] == len(test)
    json.dumps(report)  # written as is into cleaning.json
    lines = digest.entity_lines(report, roles.notes)
    assert any("data.group 'patient_id'" in line and "training: 0;" in line for line in lines)
    assert "'rownames' is a row number (" in lines[-1]


def test_an_undeclared_entity_key_is_a_suspect_with_the_overlap_of_the_random_split():
    cleaned = clean_frame(_visits(), target="y")
    train, test = split_train_test(
        cleaned.frame,
        "y",
        test_size=0.2,
        stratify=True,
        random_state=0,
        groups=split_groups(cleaned.frame, cleaned.groups),
    )
    roles = infer_column_roles(train, "y")
    report = entity_report(train, test, target="y", roles=roles)
    shared = set(train["patient_id"]) & set(test["patient_id"])
    assert report["group"] is None and report["overlap_rows"] == 0
    (suspect,) = report["suspects"]
    assert suspect["column"] == "patient_id" and suspect["values"] == train["patient_id"].nunique()
    assert suspect["overlap_values"] == len(shared) > 20
    assert suspect["overlap_rows"] == int(test["patient_id"].isin(shared).sum())
    assert suspect["role"] == "high_cardinality" and suspect["rows_per_value"] > 2
    assert set(suspect) >= {"column", "values", "rows_per_value", "overlap_rows", "overlap_values", "why"}
    (line,) = [x for x in digest.entity_lines(report, roles.notes) if x.startswith("ENTITY KEY?")]
    assert f"'patient_id': {len(shared)} values in both train and test" in line
    assert "set data.group: patient_id" in line and "used as a feature (high_cardinality)" in line
    assert "age" not in {s["column"] for s in report["suspects"]}  # repeats, but names no entity


def test_cv_folds_keep_each_entity_in_one_fold(monkeypatch):
    from nblib.ml.training import trainer as training

    cleaned = clean_frame(_visits(), target="y")
    groups = split_groups(cleaned.frame, cleaned.groups, "patient_id")
    train, _ = split_train_test(cleaned.frame, "y", test_size=0.2, stratify=True, random_state=0, groups=groups)
    roles = infer_column_roles(train, "y", group="patient_id")
    stored = train.assign(**{GROUP_COLUMN: groups.loc[train.index]})  # what 02 writes into train.parquet
    seen = []
    real = training.make_splitter

    def recording(*args, **kwargs):
        splitter = real(*args, **kwargs)
        split = splitter.split
        splitter.split = lambda X, y=None, g=None: [
            seen.append((X.index[a], X.index[b])) or (a, b) for a, b in split(X, y, g)
        ]
        return splitter

    monkeypatch.setattr(training, "make_splitter", recording)
    result = training.train(
        stored[roles.features],
        stored["y"],
        make_preprocessor(roles, target_type="binary"),
        {"dummy": {}},
        task="classification",
        cv_folds=3,
        learning_curve=False,
        n_jobs=1,
        groups=stored.get(GROUP_COLUMN),
    )
    assert result.cv.grouped and seen
    for fit_rows, held_out in seen:
        assert not set(stored.loc[fit_rows, "patient_id"]) & set(stored.loc[held_out, "patient_id"])
