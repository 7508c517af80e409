import json

from nblib.engine import artifacts as io
from nblib.engine.report import (
    diff_runs,
    find_runs,
    write_diff_html,
    write_index,
    write_summary,
)


def make_run(reports, day, name, status, auc, cv_folds):
    run = reports / day / name
    (run / "artifacts" / "figures" / "05_evaluate").mkdir(parents=True)
    manifest = {"run_id": f"{day}/{name}", "name": name.split("-", 1)[1], "status": status,
                "started": f"{day}T{name[:2]}:00:00", "data_sha256": "d",
                "stages": [{"name": "01_eda", "status": "succeeded", "seconds": 1.5, "cache_key": "k"}],
                "metrics": {"roc_auc": auc}}
    io.write_json(run / "manifest.json", manifest)
    (run / "params.yaml").write_text(f"train:\n  cv_folds: {cv_folds}\n")
    io.write_json(run / "artifacts" / "metrics.json", {
        "task": "classification", "primary_metric": "roc_auc", "best_model": "m",
        "test": {"roc_auc": auc}, "test_ci": {"roc_auc": [auc - 0.01, auc + 0.01]},
        "oracle": {"roc_auc": 0.9}, "warnings": ["<b>gap</b>"]})
    return run, manifest


def test_index_lists_runs_newest_first(tmp_path):
    make_run(tmp_path, "2026-01-01", "100000-a", "succeeded", 0.81, 5)
    make_run(tmp_path, "2026-01-02", "090000-b", "failed", 0.5, 3)
    assert [r["name"] for r in find_runs(tmp_path)] == ["b", "a"]
    page = write_index(tmp_path).read_text()
    assert page.index(">b<") < page.index(">a<")
    assert "0.8100" in page and "failed" in page


def test_summary_escapes_and_shows_metrics(tmp_path):
    run, manifest = make_run(tmp_path, "2026-01-01", "100000-a", "succeeded", 0.81, 5)
    page = write_summary(run, manifest).read_text()
    assert "&lt;b&gt;gap&lt;/b&gt;" in page and "<b>gap</b>" not in page
    assert "0.8000 – 0.8200" in page and "Oracle" in page


def test_diff(tmp_path):
    a, _ = make_run(tmp_path, "2026-01-01", "100000-a", "succeeded", 0.81, 5)
    b, _ = make_run(tmp_path, "2026-01-01", "110000-b", "succeeded", 0.83, 3)
    diff = diff_runs(a, b)
    assert diff["params"] == [{"key": "train.cv_folds", "a": 5, "b": 3}]
    (metric,) = diff["metrics"]
    assert round(metric["delta"], 4) == 0.02
    html = write_diff_html(diff, tmp_path / "d.html").read_text()
    assert "train.cv_folds" in html
    json.dumps(diff)


def test_summary_shows_what_happened_to_the_data_and_escapes_every_value(tmp_path):
    run, manifest = make_run(tmp_path, "2026-01-01", "100000-a", "succeeded", 0.81, 5)
    hostile = 'x" onerror="alert(7)'
    art = run / "artifacts"
    io.write_json(art / "leaks.json", {"policy": "warn", "suspects": [
        {"columns": [hostile], "confidence": "likely", "action": "kept", "evidence": f"{hostile}: <script>1</script>"}]})
    io.write_json(art / "cleaning.json", {
        "digest": [f"LEAK SUSPECT (kept): {hostile}", "rows: 10 in, 10 used (none dropped)"],
        "changes": [{"step": "columns", "what": "dropped", "rows": None, "columns": [hostile], "why": "<i>empty</i>"}]})
    io.write_json(art / "quality.json", {"findings": [
        {"kind": "outliers", "severity": "low", "message": "2 values", "columns": [hostile],
         "details": [{"column": hostile, "count": 2, "negative": 0, "low": 0.0, "high": 1.0, "log_scale": False}]},
        {"kind": "missing", "severity": "info", "message": "hidden info", "columns": [], "details": []}]})
    (art / "figures" / "05_evaluate" / 'by_x" onerror="a.png').write_bytes(b"png")
    page = write_summary(run, manifest).read_text()
    assert 'onerror="' not in page and "<script>" not in page and "<i>empty</i>" not in page
    assert 'by_x%22%20onerror%3D%22a.png' in page  # the file name is URL-quoted inside src
    assert "Leak suspects" in page and "What cleaning did" in page and "rows: 10 in" in page
    assert page.count("LEAK SUSPECT") == 0  # suspects have their own table, not a digest line
    assert "hidden info" not in page  # info findings stay in the stage notebook
