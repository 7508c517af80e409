"""Pages a trial found wrong: a worsening coloured green, RMSE changing sign between pages, 17-digit
thresholds, tables wider than the page, and the summary's closing "what to do next"."""

from __future__ import annotations

import re

import pytest

from nblib.engine import artifacts as io
from nblib.factory.pages import (
    compare_rows,
    diff_runs,
    run_row,
    sweep_rows,
    write_compare_html,
    write_diff_html,
    write_index,
    write_summary,
)


def regression_run(reports, name, *, rmse, cv_rmse, day="2026-01-01"):
    """A regression run as 04/05 write it: CV in scikit-learn's sign (negative RMSE)."""
    run = reports / day / name
    (run / "artifacts").mkdir(parents=True)
    manifest = {
        "run_id": f"{day}/{name}",
        "name": name,
        "status": "succeeded",
        "started": f"{day}T10:00:00",
        "stages": [],
        "data_sha256": "d",
    }
    io.write_json(run / "manifest.json", manifest)
    (run / "params.yaml").write_text("seed: 1\n")
    chosen = {
        "name": "ridge",
        "kind": "single",
        "label": "ridge",
        "cv_mean": -cv_rmse,
        "cv_std": 0.4,
        "scoring": "neg_root_mean_squared_error",
        "cv_note": "5-fold CV",
    }
    io.write_json(
        run / "artifacts" / "metrics.json",
        {
            "task": "regression",
            "primary_metric": "rmse",
            "best_model": "ridge",
            "chosen": chosen,
            "cv_scoring": "neg_root_mean_squared_error",
            "cv": {"ridge": {"mean": -cv_rmse, "std": 0.4}},
            "test": {"rmse": rmse, "r2": 0.5},
            "test_ci": {"rmse": [rmse - 1, rmse + 1]},
        },
    )
    io.write_json(
        run / "artifacts" / "cv_results.json",
        {
            "scoring": "neg_root_mean_squared_error",
            "folds": 5,
            "best_model": "ridge",
            "chosen": chosen,
            "models": {
                "ridge": {"mean": -cv_rmse, "std": 0.4, "scores": [-cv_rmse - 1, -cv_rmse + 1], "fit_seconds": 0.1},
                "random_forest": {
                    "mean": -(cv_rmse + 3),
                    "std": 0.5,
                    "scores": [-(cv_rmse + 3)] * 2,
                    "fit_seconds": 0.2,
                },
            },
            "search": {"ridge": {"method": "random", "best_score": -cv_rmse, "trials": [{}], "seconds": 1.0}},
            "ensemble": {
                "rule": "r",
                "candidates": {
                    "voting": {"kind": "voting", "mean": -(cv_rmse + 0.1), "std": 0.3, "verdict": "no gain"}
                },
            },
        },
    )
    return run, manifest


def test_rmse_is_positive_on_every_page(tmp_path):
    a, manifest = regression_run(tmp_path, "100000-a", rmse=12.5, cv_rmse=11.25)
    b, _ = regression_run(tmp_path, "110000-b", rmse=13.0, cv_rmse=12.75)
    assert run_row({**manifest, "path": a})["cv_mean"] == pytest.approx(11.25)  # list, index, compare
    summary = write_summary(a, manifest).read_text()
    for shown in ("11.2500", "14.2500", "11.3500"):  # models, search, ensemble candidates
        assert shown in summary
    assert not re.search(r"-1[0-9]\.\d{4}", summary), "a negative RMSE on the summary"
    assert "neg_root_mean_squared_error" not in summary
    diff = diff_runs(a, b)
    ridge = next(c for c in diff["cv"] if c["model"] == "ridge")
    assert (ridge["a_mean"], ridge["b_mean"]) == (pytest.approx(11.25), pytest.approx(12.75))
    assert ridge["delta"] == pytest.approx(1.5) and diff["cv_metric"] == "rmse"
    (row,) = sweep_rows([{"label": "a", "run_dir": a, "status": "succeeded", "seconds": 1.0, "swept": {}}])
    assert row["cv_mean"] == pytest.approx(11.25)
    rows, keys = compare_rows([a, b])
    compare = write_compare_html(rows, keys, tmp_path / "c.html").read_text()
    assert "11.2500" in compare and "-11.2500" not in compare

    from nblib.factory.card import card_context

    chosen = card_context(a, manifest)["training"]["chosen"]
    assert chosen["cv_mean"] == pytest.approx(11.25) and chosen["scoring"] == "rmse"


def test_notebook_cv_table_and_plot_show_rmse_positive():
    from nblib.ml.training.cv import CVResult

    cv = CVResult(
        scoring="neg_root_mean_squared_error",
        folds=2,
        scores={"ridge": [-10.0, -12.0], "forest": [-14.0, -16.0]},
        fit_seconds={"ridge": 0.1, "forest": 0.2},
    )
    table = cv.table
    assert list(table.index) == ["ridge", "forest"], "best (lowest RMSE) first"
    assert table.loc["ridge", "mean"] == pytest.approx(11.0) and table.loc["ridge", "fold_0"] == 10.0
    from nblib.ml.training.cv import ChosenModel

    chosen = ChosenModel(name="ridge", kind="single", cv_mean=-11.0, cv_std=1.0, scoring="neg_root_mean_squared_error")
    assert chosen.shown_cv_mean == 11.0  # what 04's closing line prints

    from nblib.ml.evaluation import plots

    fig = plots.cv_comparison(
        {
            "scoring": "neg_root_mean_squared_error",
            "folds": 2,
            "best_model": "ridge",
            "models": {n: {"mean": sum(s) / 2, "std": 1.0, "scores": s} for n, s in cv.scores.items()},
        }
    )
    ax = fig.axes[0]
    assert ax.get_xlabel() == "rmse" and ax.get_xlim()[0] > 0


def test_a_significant_worsening_is_red_and_an_improvement_green(tmp_path):
    a, _ = regression_run(tmp_path, "100000-a", rmse=10.0, cv_rmse=10.0)
    b, _ = regression_run(tmp_path, "110000-b", rmse=12.0, cv_rmse=12.0)  # B is worse: its RMSE is higher
    sig = {
        "paired": True,
        "note": "200 shared test rows",
        "tests": {
            "rmse": {"diff": 2.0, "lo": 1.5, "hi": 2.5, "p_value": 0.001, "test": "paired bootstrap"},
            "r2": {"diff": 0.0, "lo": -0.01, "hi": 0.01, "p_value": 0.9, "test": "paired bootstrap"},
        },
    }
    diff = diff_runs(a, b, significance=sig)
    rmse = next(m for m in diff["metrics"] if m["metric"] == "rmse")
    assert rmse["better"] is False
    page = write_diff_html(diff, tmp_path / "d.html").read_text()
    row = next(r for r in page.split("<tr>") if r.startswith("<td>rmse"))
    assert "worse" in row and "better" not in row and "sig" not in re.findall(r'class="([^"]*)"', row)
    improved = write_diff_html(
        diff_runs(b, a, significance={**sig, "tests": {"rmse": {**sig["tests"]["rmse"], "diff": -2.0}}}),
        tmp_path / "e.html",
    ).read_text()
    row = next(r for r in improved.split("<tr>") if r.startswith("<td>rmse"))
    assert 'class="num better"' in row and "worse" not in row


def test_confusion_matrix_title_rounds_the_threshold():
    from nblib.ml.evaluation import plots

    fig = plots.confusion_matrix_plot([[50, 5], [4, 20]], ["no", "yes"], 0.30000000000000004)
    assert fig.axes[0].get_title() == "Confusion matrix (threshold 0.300)"


def test_index_and_compare_tables_scroll_inside_the_page(tmp_path):
    run, manifest = regression_run(tmp_path, "100000-a", rmse=12.5, cv_rmse=11.25)
    io.write_json(run / "manifest.json", {**manifest, "label": "x" * 300})
    index = write_index(tmp_path).read_text()
    rows, keys = compare_rows([run])
    compare = write_compare_html(rows, keys, tmp_path / "c.html").read_text()
    for page in (index, compare):
        assert "<div class=scroll><table id=runs>" in page and "</table></div>" in page
        assert ".scroll{overflow-x:auto" in page and "overflow-wrap:anywhere" in page
        assert "<td class=label>" in page


def test_the_summary_ends_with_what_to_do_next(tmp_path):
    run, manifest = regression_run(tmp_path, "100000-a", rmse=12.5, cv_rmse=11.25)
    page = write_summary(run, manifest).read_text()
    assert "What to do next" in page and "Nothing urgent" in page
    assert page.index("What to do next") > page.index("<h2>Stages</h2>")
    io.write_json(
        run / "artifacts" / "leaks.json",
        {
            "policy": "warn",
            "suspects": [{"columns": ["<b>refund</b>"], "confidence": "likely", "action": "kept", "evidence": "e"}],
        },
    )
    io.write_json(
        run / "artifacts" / "cleaning.json",
        {
            "entities": {
                "group": None,
                "suspects": [{"column": "vehicle_id", "overlap_rows": 4519, "overlap_values": 2000}],
            }
        },
    )
    cv = io.read_json(run / "artifacts" / "cv_results.json")
    cv["learning_curve"] = [
        {"train_size": n, "fold": f, "valid_score": s + 0.01 * f, "metric": "root_mean_squared_error"}
        for n, s in ((100, 20.0), (400, 15.0))
        for f in range(3)
    ]
    io.write_json(run / "artifacts" / "cv_results.json", cv)
    page = write_summary(run, manifest).read_text()
    steps = page[page.index("What to do next") :]
    assert "Nothing urgent" not in steps
    assert "quality.leaks: drop" in steps and "data.columns.known_before_outcome" in steps
    assert "data.group: vehicle_id" in steps and "still rising" in steps
    assert "&lt;b&gt;refund&lt;/b&gt;" in steps and "<b>refund</b>" not in steps

    from nblib.factory.card import write_model_card

    md, html = write_model_card(run, manifest)
    card = md.read_text()
    assert "## What to do next" in card and "data.group: vehicle" in card and "1. **" in card
    assert "data.group: vehicle_id" in html.read_text()


def test_empty_search_and_ensemble_sections_are_not_shown(tmp_path):
    run, manifest = regression_run(tmp_path, "100000-a", rmse=12.5, cv_rmse=11.25)
    cv = io.read_json(run / "artifacts" / "cv_results.json")
    io.write_json(run / "artifacts" / "cv_results.json", {**cv, "search": {}, "ensemble": None})
    page = write_summary(run, manifest).read_text()
    assert "Hyperparameter search" not in page and "Ensembles" not in page
