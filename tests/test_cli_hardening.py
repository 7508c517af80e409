"""The command line on hostile ground: read-only reports, a locked run folder, tampered or
unreadable artifacts, abandoned runs. Run folders are made by hand, so nothing executes a notebook."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli, run_folders

from nblib.engine import artifacts as io
from nblib.engine.lock import RunLock


def one_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def fake_run(reports, *, model: bytes = b"not a zip file", status="succeeded", runner=None, columns=None):
    """A run folder whose manifest records the hashes of its model, columns and metrics."""
    run = reports / "2026-11-29" / "101500-smoke"
    art = run / "artifacts"
    art.mkdir(parents=True)
    (art / "model.skops").write_bytes(model)
    io.write_json(art / "columns.json", columns or {"task": "classification", "roles": {}})
    io.write_json(art / "metrics.json", {"test": {"roc_auc": 0.8}})
    outputs = {f"artifacts/{n}": io.sha256_file(art / n) for n in ("model.skops", "columns.json", "metrics.json")}
    manifest = {
        "run_id": "2026-11-29/101500-smoke",
        "name": "smoke",
        "status": status,
        "started": "2026-11-29T10:15:00+00:00",
        "runner": runner or {},
        "stages": [{"name": "04_train", "status": "succeeded", "outputs": outputs}],
    }
    io.write_json(run / "manifest.json", manifest)
    (run / "params.yaml").write_text("data: {target: is_hit}\n")
    return run


def test_read_only_reports_folder_is_one_line_exit_2(tmp_path):
    if os.geteuid() == 0:  # root writes through any mode bits: use a folder the kernel refuses
        reports = "/sys/kernel/nblib-reports"
    else:
        reports = tmp_path / "ro"
        reports.mkdir(mode=0o555)
    result = run_cli("run", "params/smoke.yaml", reports=reports)
    assert result.returncode == 2
    assert one_line(result).startswith(f"nblib: error: {reports}: cannot write here (")


def test_a_second_run_on_a_locked_folder_is_refused(reports):
    run = fake_run(reports)
    before = (run / "manifest.json").read_text()
    with RunLock(run):
        result = run_cli("run", "params/smoke.yaml", "--run-dir", str(run), "--force", reports=reports)
    assert result.returncode == 2
    assert f"in use by another run (pid {os.getpid()} on " in one_line(result)
    assert (run / "manifest.json").read_text() == before


def test_verify(reports):
    run = fake_run(reports)
    ok = run_cli("verify", str(run), reports=reports)
    assert ok.returncode == 0 and "3 artifacts match" in ok.stdout, ok.stderr
    metrics = run / "artifacts" / "metrics.json"
    metrics.write_text(metrics.read_text().replace("0.8", "0.999"))
    (run / "artifacts" / "columns.json").unlink()
    bad = run_cli("verify", "2026-11-29/101500-smoke", reports=reports)
    assert bad.returncode == 1
    assert bad.stderr.splitlines() == [
        f"nblib: {run}: artifacts/columns.json is missing (it was written by the run) (stage 04_train)",
        f"nblib: {run}: artifacts/metrics.json changed since it was written (stage 04_train)",
    ]


def test_predict_refuses_a_model_that_changed(reports, tmp_path):
    run = fake_run(reports)
    (run / "artifacts" / "model.skops").write_bytes(b"swapped")
    data = tmp_path / "rows.csv"
    data.write_text("a,b\n1,2\n")
    result = run_cli("predict", str(run), str(data), "-o", str(tmp_path / "out.csv"), reports=reports)
    assert result.returncode == 2
    assert "model.skops: changed since the run wrote it" in one_line(result)
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "empty file"),
        (b"\x80\x04\x95pickle", "not a readable skops file (File is not a zip file)"),
    ],
)
def test_an_unreadable_model_is_one_line_naming_it(reports, tmp_path, content, reason):
    run = fake_run(reports, model=content)  # recorded as is: the hash matches, the file is still bad
    data = tmp_path / "rows.csv"
    data.write_text("a,b\n1,2\n")
    result = run_cli("predict", str(run), str(data), "-o", str(tmp_path / "out.csv"), reports=reports)
    assert result.returncode == 2
    line = one_line(result)
    assert str(run / "artifacts" / "model.skops") in line and reason in line and "BadZipFile" not in line


def test_truncated_skops_file_is_one_line(tmp_path):
    from sklearn.linear_model import LogisticRegression

    path = io.write_model(tmp_path / "m.skops", LogisticRegression().fit([[0], [1]], [0, 1]))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(io.UnreadableArtifact, match=r"m\.skops: not a readable skops file"):
        io.read_model(path, [])


@pytest.mark.parametrize(
    "name, content, reader",
    [
        ("f.parquet", b"PAR1 but not really", "read_frame"),
        ("f.parquet", b"", "read_frame"),
        ("m.json", b'{"roc_auc": ', "read_json"),
        ("m.json", b"\xff\xfe", "read_json"),
    ],
)
def test_unreadable_frames_and_json_are_one_line(tmp_path, name, content, reader):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(io.UnreadableArtifact) as info:
        getattr(io, reader)(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


def test_list_shows_a_run_whose_runner_is_gone_as_abandoned(reports):
    import socket

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    fake_run(
        reports,
        status="running",
        runner={"pid": dead.pid, "host": socket.gethostname(), "heartbeat": "2026-11-29T10:15:00+00:00"},
    )
    listed = run_cli("list", reports=reports)
    assert listed.returncode == 0 and "abandoned" in listed.stdout and "running" not in listed.stdout


def test_resume_names_a_run(reports):
    result = run_cli("run", "--resume", "2026-11-29/nope", reports=reports)
    assert result.returncode == 2 and "not a run folder or run id" in one_line(result)
    assert run_folders(reports) == []


def _real_model_run(reports, tmp_path, status="succeeded"):
    """A hand-made run folder holding a real (small) model: a numeric and a categorical column."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    X = pd.DataFrame({"x": np.arange(40.0), "plan": ["basic", "premium"] * 20})
    model = make_pipeline(
        ColumnTransformer(
            [
                ("numeric", SimpleImputer(), ["x"]),
                (
                    "categorical",
                    make_pipeline(
                        SimpleImputer(strategy="constant", fill_value="missing"), OneHotEncoder(handle_unknown="ignore")
                    ),
                    ["plan"],
                ),
            ]
        ),
        LogisticRegression(),
    ).fit(X, (X["x"] > 20).astype(int))
    path = io.write_model(tmp_path / "m.skops", model)
    columns = {
        "task": "classification",
        "classes": ["No", "Yes"],
        "parsers": {},
        "roles": {"numeric": ["x"], "categorical": ["plan"]},
    }
    return fake_run(reports, model=path.read_bytes(), status=status, columns=columns)


def test_predict_names_the_bad_cell_and_skips_bad_rows_into_a_rejects_file(reports, tmp_path):
    run = _real_model_run(reports, tmp_path)
    data, out = tmp_path / "rows.csv", tmp_path / "scored.csv"
    data.write_text("id,x,plan\nA,1,basic\nB,abc,basic\nC,30,gold\nD,,premium\n")
    failed = run_cli("predict", str(run), str(data), "-o", str(out), reports=reports)
    assert failed.returncode == 2 and not out.exists()
    assert one_line(failed) == (
        f"nblib: error: {data}: data row 2, column 'x': 'abc' is not a number; fix the file, "
        f"or pass --on-bad-rows skip to score the other rows and write these to a rejects file"
    )
    skipped = run_cli("predict", str(run), str(data), "-o", str(out), "--on-bad-rows", "skip", reports=reports)
    assert skipped.returncode == 0, skipped.stderr
    assert pd.read_csv(out)["id"].tolist() == ["A", "C", "D"]
    assert pd.read_csv(tmp_path / "scored.rejects.csv")[["row", "reason", "id"]].values.tolist() == [
        [2, "column 'x': 'abc' is not a number", "B"]
    ]
    assert "scored 3 rows, rejected 1 · unseen categories: 'plan' 1 row · ignored columns: 'id'" in skipped.stdout, (
        skipped.stdout
    )
    header_only = tmp_path / "empty.csv"
    header_only.write_text("id,x,plan\n")
    empty = run_cli("predict", str(run), str(header_only), "-o", str(out), reports=reports)
    assert empty.returncode == 2
    assert one_line(empty) == f"nblib: error: {header_only}: no rows to score (the file has a header only)"


@pytest.mark.parametrize("status", ["gated", "failed"])
def test_predict_refuses_the_model_of_an_unfinished_run_unless_allowed(reports, tmp_path, status):
    run = _real_model_run(reports, tmp_path, status=status)
    data, out = tmp_path / "rows.csv", tmp_path / "scored.csv"
    data.write_text("x,plan\n1,basic\n")
    refused = run_cli("predict", str(run), str(data), "-o", str(out), reports=reports)
    assert refused.returncode == 2 and not out.exists()
    line = one_line(refused)
    assert f"this run's status is {status}" in line and "--allow-unfinished" in line
    allowed = run_cli("predict", str(run), str(data), "-o", str(out), "--allow-unfinished", reports=reports)
    assert allowed.returncode == 0, allowed.stderr
    assert len(pd.read_csv(out)) == 1
