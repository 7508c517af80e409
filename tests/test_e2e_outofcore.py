"""End-to-end: a table bigger than ``data.in_memory_rows`` (20 Parquet partitions), on a real LocalCluster.

01_eda checks it partition by partition on the workers, 02_preprocess cleans and splits it into partitioned
Parquet, training reads a seeded sample of whole groups, and the run folder records, verifies and names all
of it. The quality numbers must equal the in-memory checks on the same rows.
"""

from __future__ import annotations

import json

import pytest
from conftest import run_cli, run_folders

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("dask-outofcore")]

PARTS = 20


@pytest.mark.timeout(600)
def test_a_table_bigger_than_memory_runs_partition_by_partition_on_dask(tmp_path):
    from nblib.ml.data.datasets import make_product_launches
    from nblib.ml.data.quality import check_quality

    folder = tmp_path / "launches"
    folder.mkdir()
    frame = make_product_launches(600, random_state=7).frame
    for i in range(PARTS):
        frame.iloc[i * 30 : (i + 1) * 30].to_parquet(folder / f"part-{i:03d}.parquet")
    reports = tmp_path / "reports"
    args = ("params/smoke.yaml", "-p", f"data.source={folder}", "-p", "data.in_memory_rows=300", "--quiet")
    dask = ("-p", "compute.backend=dask", "-p", "compute.n_jobs=-1", "-p", "compute.dask.dashboard=false")
    result = run_cli("run", *args, *dask, reports=reports)
    assert result.returncode == 0, result.stderr
    (run,) = run_folders(reports)
    art = run / "artifacts"

    for name in ("raw", "train", "test"):
        assert (art / f"{name}.parquet").is_dir(), name  # partitioned Parquet, one file per partition
    assert len(list((art / "raw.parquet").glob("part-*.parquet"))) == PARTS
    report = json.loads((art / "quality.json").read_text())
    assert report["partitioned"] == {"rows": 600, "partitions": PARTS, "sample_rows": 600}
    ref = check_quality(frame.reset_index(drop=True), "is_hit", task="classification")
    for key in ("missing", "exact_duplicates", "near_duplicates", "label_variants", "target", "outliers"):
        assert report[key] == ref[key], key

    manifest = json.loads((run / "manifest.json").read_text())
    outputs = next(s for s in manifest["stages"] if s["name"] == "02_preprocess")["outputs"]
    assert any(k.startswith("artifacts/train.parquet/part-") for k in outputs)
    assert manifest["compute"]["tasks"] > 0
    verified = run_cli("verify", str(run), reports=reports)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    eda = (run / "01_eda.html").read_text()
    assert "from 20 Parquet partitions" in eda and "partition by partition" in eda
    assert "drawn from a seeded sample of 600 of the 600 rows" in eda
    assert "judged on a seeded sample of" in (run / "02_preprocess.html").read_text()
    assert "train: a seeded sample of whole groups" in (run / "04_train.html").read_text()
    metrics = json.loads((art / "metrics.json").read_text())
    assert 0.6 < metrics["test"]["roc_auc"] <= 1
