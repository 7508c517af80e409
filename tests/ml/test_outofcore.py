"""Tables bigger than memory (nblib.ml.data.tables): the partition-by-partition path must find what the
in-memory path finds on the same rows, and its samples and split must not depend on how the table was cut."""

from __future__ import annotations

import dask
import numpy as np
import pandas as pd
import pytest

from nblib.engine import artifacts as io
from nblib.engine.dag import Stage
from nblib.engine.integrity import hash_outputs
from nblib.ml.data import preprocess, quality, tables
from nblib.ml.data.datasets import make_product_launches
from nblib.ml.data.target import prepare_target_column

TARGET = "is_hit"


@pytest.fixture(autouse=True)
def _synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


@pytest.fixture(scope="module")
def frame():
    return make_product_launches(3000, random_state=3).frame.drop(columns="revenue_k")


def _write(frame, folder, parts, kind="parquet"):
    folder.mkdir(parents=True)
    for i, chunk in enumerate(np.array_split(np.arange(len(frame)), parts)):
        part = frame.iloc[chunk].reset_index(drop=True)
        if kind == "parquet":
            part.to_parquet(folder / f"part-{i:03d}.parquet")
        else:
            part.to_csv(folder / f"part-{i:03d}.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def parted(frame, tmp_path_factory):
    return _write(frame, tmp_path_factory.mktemp("t") / "parts", 12)


def test_a_table_over_the_limit_is_read_partitioned_with_global_row_numbers(parted, frame):
    assert tables.open_table(parted, in_memory_rows=3000) is None  # fits: read in memory
    table = tables.open_table(parted, in_memory_rows=1000)
    assert tables.is_partitioned(table) and table.npartitions == 12 and tables.n_rows(table) == 3000
    whole = table.compute()
    assert whole.index.name == tables.ROW and whole.index.tolist() == list(range(3000))
    pd.testing.assert_frame_equal(whole.reset_index(drop=True), frame.reset_index(drop=True), check_dtype=False)
    assert "from 12 Parquet partitions" in tables.source_line(str(parted), table)
    assert "partition by partition" in tables.source_line(str(parted), table)


def test_partitioned_checks_find_what_the_in_memory_checks_find(parted, frame):
    table = tables.open_table(parted, in_memory_rows=1000)
    settings = {"task": "classification", "max_missing_fraction": 0.5, "outlier_iqr_factor": 3.0}
    out = tables.check_quality(table, TARGET, random_state=0, **settings)
    ref = quality.check_quality(frame.reset_index(drop=True), TARGET, **settings)
    for key in ("missing", "exact_duplicates", "near_duplicates", "duplicates", "date_formats", "numbers_as_text"):
        assert out[key] == ref[key], key
    assert out["label_variants"] == ref["label_variants"] and out["label_proposals"] == ref["label_proposals"]
    assert out["target"] == ref["target"]
    assert out["exact_duplicates"] > 0 and out["label_variants"]  # the planted problems are there to find
    # the fences come from the sample, here every row: the same outliers, counted over every row
    assert out["outliers"] == ref["outliers"]
    assert out["partitioned"] == {"rows": 3000, "partitions": 12, "sample_rows": 3000}
    kinds = {f["kind"] for f in out["findings"]}
    assert {f["kind"] for f in ref["findings"]} | {"partitioned"} == kinds
    overview = tables.overview(table)
    assert overview.loc["category", "distinct ≈"] == pytest.approx(frame["category"].nunique(), rel=0.05)
    assert overview.loc["marketing_budget", "missing"] == round(frame["marketing_budget"].isna().mean(), 4)


def test_samples_and_the_split_do_not_depend_on_the_partitioning(frame, tmp_path):
    a = tables.open_table(_write(frame, tmp_path / "a", 5), in_memory_rows=500)
    b = tables.open_table(_write(frame, tmp_path / "b", 17), in_memory_rows=500)
    assert tables.sample_rows(a, 400, 1).index.equals(tables.sample_rows(b, 400, 1).index)
    assert not tables.sample_rows(a, 400, 1).index.equals(tables.sample_rows(a, 400, 2).index)

    def split(table):
        cleaned = tables.clean_frame(table, target=TARGET, random_state=0)
        keys = tables.split_groups(cleaned.frame, cleaned.groups)
        train, test = tables.split_train_test(
            cleaned.frame, TARGET, groups=keys, test_size=0.25, stratify=True, random_state=4
        )
        return train.compute(), test.compute()

    (train_a, test_a), (train_b, test_b) = split(a), split(b)
    assert test_a.index.equals(test_b.index) and train_a.index.equals(train_b.index)
    assert len(test_a) + len(train_a) == 3000 and 0.2 < len(test_a) / 3000 < 0.3
    assert preprocess.GROUP_COLUMN in train_a and preprocess.GROUP_COLUMN not in test_a
    # a duplicate group is on one side: no exact copy of a training row among the test rows
    keyed = [c for c in test_a.columns if c not in ("launch_id", TARGET)]
    shared = test_a[keyed].merge(train_a[keyed].drop_duplicates(), how="inner")
    assert shared.empty
    # the training sample draws whole groups, independently of the split's draw
    sample = tables.in_memory(split(a)[0].pipe(lambda t: dask_frame(t)), 600, 0, preprocess.GROUP_COLUMN)
    assert 400 < len(sample) < 800


def dask_frame(frame):
    import dask.dataframe as dd

    return dd.from_pandas(frame, npartitions=4)


def test_partitioned_cleaning_gives_the_in_memory_cleaned_values(parted, frame):
    table = tables.open_table(parted, in_memory_rows=1000)
    hint = {"text": ["description"]}
    cleaned = tables.clean_frame(table, hint, target=TARGET, random_state=0)
    ref = preprocess.clean_frame(frame.reset_index(drop=True), hint, target=TARGET)
    got = cleaned.frame.compute()
    assert list(got.columns) == list(ref.frame.columns)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), ref.frame.reset_index(drop=True), check_dtype=False)
    assert [c["what"] for c in cleaned.changes] == [c["what"] for c in ref.changes]
    assert cleaned.report["labels_normalized"] == ref.report["labels_normalized"]
    assert cleaned.report["duplicates_groups"] == ref.report["duplicates_groups"]
    # rows of a duplicate group share a key; the in-memory groups and the keys partition the rows alike
    keys = cleaned.groups.compute()
    assert keys.groupby(ref.groups.to_numpy()).nunique().max() == 1
    assert ref.groups.groupby(keys.to_numpy()).nunique().max() == 1

    y, info = tables.prepare_target_column(cleaned.frame, TARGET, "classification")
    ref_y, ref_info = prepare_target_column(ref.frame, TARGET, "classification")
    assert info == ref_info and y[TARGET].compute().tolist() == ref_y[TARGET].tolist()


def test_dropping_duplicates_of_a_partitioned_table_is_refused_in_one_line(parted):
    table = tables.open_table(parted, in_memory_rows=1000)
    with pytest.raises(ValueError, match=r"^preprocess.drop_duplicates: not available for a table over"):
        tables.clean_frame(table, target=TARGET, drop_duplicates=True)


def test_a_csv_partition_with_text_in_a_number_column_is_named(tmp_path):
    folder = tmp_path / "csv"
    folder.mkdir()
    pd.DataFrame({"x": range(600), "y": [0, 1] * 300}).to_csv(folder / "a.csv", index=False)
    bad = pd.DataFrame({"x": [str(i) for i in range(600)], "y": [0, 1] * 300})
    bad.loc[7, "x"] = "twelve"
    bad.to_csv(folder / "b.csv", index=False)
    table = tables.open_table(folder, in_memory_rows=1000)
    with pytest.raises(ValueError, match=r"b\.csv: column 'x' holds text \('twelve', row 607\) where a\.csv holds"):
        table.compute()


def test_a_partitioned_artifact_is_written_whole_hashed_and_read_back(parted, tmp_path):
    table = tables.open_table(parted, in_memory_rows=1000)
    run = tmp_path / "run"
    io.write_frame(run / "artifacts" / "raw.parquet", table)
    folder = run / "artifacts" / "raw.parquet"
    assert sorted(p.name for p in folder.iterdir()) == [f"part-{i:05d}.parquet" for i in range(12)]
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left
    hashes = hash_outputs(Stage("s", outputs={"raw": "raw.parquet"}), run)
    assert len(hashes) == 12 and all(k.startswith("artifacts/raw.parquet/part-") for k in hashes)
    back = io.read_frame(folder)
    assert tables.is_partitioned(back)
    pd.testing.assert_frame_equal(back.compute(), table.compute(), check_dtype=False)


def test_every_partitioned_test_row_is_scored_as_in_memory(parted, frame):
    from sklearn.linear_model import LogisticRegression

    table = tables.open_table(parted, in_memory_rows=1000)[["price", "n_competitors", TARGET]]
    whole = table.compute()
    model = LogisticRegression().fit(whole[["price", "n_competitors"]].fillna(0).iloc[:500], whole[TARGET].iloc[:500])
    clean = table.fillna(0)
    scored = tables.score_rows(model, clean, ["price", "n_competitors"], TARGET, "classification")
    ref = tables.score_rows(model, clean.compute(), ["price", "n_competitors"], TARGET, "classification")
    assert scored.y.index.tolist() == list(range(3000)) and scored.y.tolist() == ref.y.tolist()
    np.testing.assert_allclose(scored.scores, ref.scores)
    assert scored.scores_of(pd.Index([5, 2])).tolist() == [ref.scores[5], ref.scores[2]]


def test_a_dataframe_goes_the_in_memory_way(frame, tmp_path):
    cleaned = tables.clean_frame(frame, target=TARGET, random_state=0, workdir=tmp_path)
    assert cleaned.frame.equals(preprocess.clean_frame(frame, target=TARGET).frame)
    assert list(tmp_path.iterdir()) == []  # nothing written for a table in memory
