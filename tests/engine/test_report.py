import json

import pytest

from nblib.engine import artifacts as io
from nblib.factory.pages import (
    compare_rows,
    diff_runs,
    find_runs,
    run_row,
    write_compare_html,
    write_diff_html,
    write_index,
    write_summary,
)


def make_run(reports, day, name, status, auc, cv_folds):
    run = reports / day / name
    (run / "artifacts" / "figures" / "05_evaluate").mkdir(parents=True)
    manifest = {
        "run_id": f"{day}/{name}",
        "name": name.split("-", 1)[1],
        "status": status,
        "started": f"{day}T{name[:2]}:00:00",
        "data_sha256": "d",
        "stages": [{"name": "01_eda", "status": "succeeded", "seconds": 1.5, "cache_key": "k"}],
        "metrics": {"roc_auc": auc},
    }
    io.write_json(run / "manifest.json", manifest)
    (run / "params.yaml").write_text(f"train:\n  cv_folds: {cv_folds}\n")
    io.write_json(
        run / "artifacts" / "metrics.json",
        {
            "task": "classification",
            "primary_metric": "roc_auc",
            "best_model": "m",
            "test": {"roc_auc": auc},
            "test_ci": {"roc_auc": [auc - 0.01, auc + 0.01]},
            "oracle": {"roc_auc": 0.9},
            "warnings": ["<b>gap</b>"],
        },
    )
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
    io.write_json(
        art / "leaks.json",
        {
            "policy": "warn",
            "suspects": [
                {
                    "columns": [hostile],
                    "confidence": "likely",
                    "action": "kept",
                    "evidence": f"{hostile}: <script>1</script>",
                }
            ],
        },
    )
    io.write_json(
        art / "cleaning.json",
        {
            "digest": [f"LEAK SUSPECT (kept): {hostile}", "rows: 10 in, 10 used (none dropped)"],
            "changes": [
                {"step": "columns", "what": "dropped", "rows": None, "columns": [hostile], "why": "<i>empty</i>"}
            ],
        },
    )
    io.write_json(
        art / "quality.json",
        {
            "findings": [
                {
                    "kind": "outliers",
                    "severity": "low",
                    "message": "2 values",
                    "columns": [hostile],
                    "details": [
                        {"column": hostile, "count": 2, "negative": 0, "low": 0.0, "high": 1.0, "log_scale": False}
                    ],
                },
                {"kind": "missing", "severity": "info", "message": "hidden info", "columns": [], "details": []},
            ]
        },
    )
    (art / "figures" / "05_evaluate" / 'by_x" onerror="a.png').write_bytes(b"png")
    io.write_json(art / "features.json", {"n_features": 3, "notes": [f"integer codes '{hostile}': kept"]})
    page = write_summary(run, manifest).read_text()
    assert "How the features were built" in page and "integer codes &#39;x&#34; onerror" in page
    assert 'onerror="' not in page and "<script>" not in page and "<i>empty</i>" not in page
    assert "by_x%22%20onerror%3D%22a.png" in page  # the file name is URL-quoted inside src
    assert "Leak suspects" in page and "What cleaning did" in page and "rows: 10 in" in page
    assert page.count("LEAK SUSPECT") == 0  # suspects have their own table, not a digest line
    assert "hidden info" not in page  # info findings stay in the stage notebook


def test_summary_warns_about_entities_in_both_parts_and_reports_the_group_overlap(tmp_path):
    run, manifest = make_run(tmp_path, "2026-01-01", "100000-a", "succeeded", 0.81, 5)
    hostile = 'pid" onerror="alert(7)'
    suspect = {
        "column": hostile,
        "values": 900,
        "rows_per_value": 3.1,
        "overlap_rows": 4519,
        "overlap_values": 749,
        "why": "id-like name <b>",
        "role": "high_cardinality",
    }
    entities = {
        "group": None,
        "overlap_rows": 0,
        "overlap_values": 0,
        "index_columns": ["rownames"],
        "suspects": [suspect],
        "test_rows": 5244,
    }
    io.write_json(
        run / "artifacts" / "cleaning.json",
        {
            "entities": entities,
            "digest": [
                f"ENTITY KEY? {hostile!r}: 749 values in both train and test",
                "'rownames' is a row number (1..9, increasing, unique): not used as a feature",
            ],
        },
    )
    page = write_summary(run, manifest).read_text()
    assert 'onerror="' not in page and "id-like name &lt;b&gt;" in page
    assert "Entities in the split" in page and "749 of its values are in both train and test" in page
    assert "4,519 of 5,244 test rows" in page and "data.group: pid&#34; onerror=&#34;alert(7)" in page
    assert "ENTITY KEY?" not in page  # the warning above, not a digest line
    assert "rownames&#39; is a row number (1..9" in page
    io.write_json(run / "artifacts" / "cleaning.json", {"entities": {**entities, "group": "pid", "suspects": []}})
    page = write_summary(run, manifest).read_text()
    assert "<code>data.group: pid</code> keeps each entity" in page and "<b>0</b> test rows share" in page


HOSTILE = '<script>alert(1)</script>" onmouseover="x'


def test_index_has_the_columns_filters_and_links_and_escapes_labels(tmp_path):
    run, manifest = make_run(tmp_path, "2026-01-01", "100000-a", "succeeded", 0.81, 5)
    io.write_json(
        run / "manifest.json",
        {**manifest, "label": HOSTILE, "stages": [{"name": "01_eda", "status": "cached", "seconds": 2.0}]},
    )
    for name in ("summary.html", "01_eda.html", "model_card.html"):
        (run / name).write_text("x")
    (tmp_path / ".cache" / "01_eda" / "k").mkdir(parents=True)
    io.write_json(tmp_path / ".cache" / "01_eda" / "k" / "manifest.json", {"run_id": "not-a-run"})
    page = write_index(tmp_path).read_text()
    assert "<script>alert(1)" not in page and 'onmouseover="x' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    for column in ("label", "started", "status", "CV mean", "test", "95% CI", "duration", "reports"):
        assert f"<th>{column}" in page
    assert 'href="2026-01-01/100000-a/summary.html"' in page and 'href="2026-01-01/100000-a/01_eda.html"' in page
    assert 'href="2026-01-01/100000-a/model_card.html"' in page
    assert "0.8000 – 0.8200" in page and "2.0 s" in page and "id=filter" in page and "id=status" in page
    assert "not-a-run" not in page  # the cache holds no runs


def test_run_row_reads_cv_of_the_best_model_and_falls_back_to_wall_time(tmp_path):
    run, manifest = make_run(tmp_path, "2026-01-01", "100000-a", "succeeded", 0.81, 5)
    metrics = io.read_json(run / "artifacts" / "metrics.json")
    io.write_json(run / "artifacts" / "metrics.json", {**metrics, "cv": {"m": {"mean": 0.7, "std": 0.1}}})
    row = run_row(
        {
            **manifest,
            "path": run,
            "stages": [],
            "started": "2026-01-01T10:00:00+00:00",
            "finished": "2026-01-01T10:01:30+00:00",
        }
    )
    assert (row["cv_mean"], row["test"], row["seconds"]) == (0.7, 0.81, 90.0)
    assert row["test_ci"] == pytest.approx([0.8, 0.82])
    assert row["label"] == "a"


def test_diff_page_escapes_shows_paired_tests_and_relative_figures(tmp_path):
    a, _ = make_run(tmp_path, "2026-01-01", "100000-a", "succeeded", 0.81, 5)
    b, _ = make_run(tmp_path, "2026-01-01", "110000-b", "succeeded", 0.83, 3)
    (b / "params.yaml").write_text(f"train:\n  cv_folds: 3\nlabel: '{HOSTILE}'\n")
    for run in (a, b):
        (run / "artifacts" / "figures" / "05_evaluate" / "roc.png").write_bytes(b"png")
    (a / "artifacts" / "figures" / "05_evaluate" / "only_a.png").write_bytes(b"png")
    sig = {
        "paired": True,
        "note": "10 shared test rows",
        "tests": {"roc_auc": {"diff": 0.02, "lo": 0.01, "hi": 0.03, "p_value": 0.01, "test": "DeLong"}},
    }
    diff = diff_runs(a, b, significance=sig)
    assert [p["key"] for p in diff["params"]] == ["label", "train.cv_folds"]
    assert diff["figures"] == ["05_evaluate/roc.png"] and diff["metrics"][0]["test"]["test"] == "DeLong"
    page = write_diff_html(diff, tmp_path / "out" / "d.html").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert 'src="../2026-01-01/100000-a/artifacts/figures/05_evaluate/roc.png"' in page
    assert 'href="../2026-01-01/110000-b/summary.html"' in page and "only_a" not in page
    assert "DeLong" in page and "+0.0100 – +0.0300" in page
    unpaired = write_diff_html(
        diff_runs(a, b, {"paired": False, "note": "not paired: the test rows differ"}), tmp_path / "u.html"
    ).read_text()
    assert "not paired: the test rows differ" in unpaired and "DeLong" not in unpaired


def test_compare_page_has_a_row_per_run_and_the_params_that_differ(tmp_path):
    a, _ = make_run(tmp_path, "2026-01-01", "100000-a", "succeeded", 0.81, 5)
    b, manifest = make_run(tmp_path, "2026-01-01", "110000-b", "failed", 0.83, 3)
    io.write_json(b / "manifest.json", {**manifest, "label": HOSTILE})
    rows, keys = compare_rows([a, b])
    assert keys == ["train.cv_folds"] and [r["params"]["train.cv_folds"] for r in rows] == [5, 3]
    page = write_compare_html(rows, keys, tmp_path / "c.html", plot_png=b"\x89PNG").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert page.count("<tr>") == 3 and "train.cv_folds" in page and "data:image/png;base64,iVBORw==" in page
    assert 'href="2026-01-01/100000-a/summary.html"' in page


def test_the_diff_legend_names_the_registrys_lower_is_better_metrics():
    from nblib.factory.pages import _lower_is_better_text
    from nblib.ml.evaluation.registry import METRIC_REGISTRY

    text = _lower_is_better_text()
    for metric in METRIC_REGISTRY.values():
        assert (metric.label in text) == metric.lower_is_better, metric.name
