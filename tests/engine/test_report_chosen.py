"""Lists, diffs, compares and sweeps name the chosen model (an ensemble when one was saved) and show its CV."""

from nblib.engine import artifacts as io
from nblib.factory.pages import diff_runs, run_row, sweep_rows, write_summary

CHOSEN = {
    "name": "voting",
    "kind": "voting",
    "label": "voting of m, n",
    "cv_mean": 0.88,
    "cv_std": 0.01,
    "cv_scores": [0.87, 0.89],
    "members": ["m", "n"],
    "searched": True,
    "scoring": "roc_auc",
    "folds": 2,
    "cv_note": "2-fold CV on the same folds as the families; searched members nested",
}


def _run(root, name, chosen):
    run = root / "2026-01-01" / name
    (run / "artifacts").mkdir(parents=True)
    manifest = {
        "run_id": f"2026-01-01/{name}",
        "name": name,
        "status": "succeeded",
        "data_sha256": "d",
        "stages": [{"name": "04_train", "status": "succeeded", "seconds": 2.0}],
    }
    io.write_json(run / "manifest.json", manifest)
    (run / "params.yaml").write_text("seed: 1\n")
    io.write_json(
        run / "artifacts" / "metrics.json",
        {
            "task": "classification",
            "primary_metric": "roc_auc",
            "best_model": chosen["name"] if chosen else "m",
            "chosen": chosen,
            "test": {"roc_auc": 0.86},
            "cv_scoring": "roc_auc",
            "cv": {"m": {"mean": 0.80, "std": 0.02}, "n": {"mean": 0.78, "std": 0.02}},
        },
    )
    io.write_json(
        run / "artifacts" / "cv_results.json",
        {
            "scoring": "roc_auc",
            "folds": 2,
            "best_model": chosen["name"] if chosen else "m",
            "best_single": "m",
            "chosen": chosen,
            "models": {
                "m": {
                    "mean": 0.80,
                    "std": 0.02,
                    "scores": [0.79, 0.81],
                    "fit_seconds": 1,
                    "cv_note": "nested CV: the random search re-run on each of the 2 outer training folds",
                },
                "n": {
                    "mean": 0.78,
                    "std": 0.02,
                    "scores": [0.77, 0.79],
                    "fit_seconds": 1,
                    "cv_note": "2-fold CV, settings fixed in advance",
                },
            },
        },
    )
    return run, manifest


def test_list_compare_and_sweep_rows_show_the_chosen_ensemble_and_its_cv(tmp_path):
    run, manifest = _run(tmp_path, "100000-ens", CHOSEN)
    row = run_row({**manifest, "path": run})
    assert (row["best_model"], row["cv_mean"], row["cv_std"]) == ("voting", 0.88, 0.01)
    (sweep,) = sweep_rows([{"label": "ens", "run_dir": str(run), "status": "succeeded", "swept": {}}])
    assert (sweep["best_model"], sweep["cv_mean"]) == ("voting", 0.88)
    old, old_manifest = _run(tmp_path, "090000-old", None)  # a run from before the record
    assert run_row({**old_manifest, "path": old})["cv_mean"] == 0.80


def test_diff_names_the_chosen_models_and_gives_the_ensemble_a_cv_row(tmp_path):
    a, _ = _run(tmp_path, "090000-single", None)
    b, _ = _run(tmp_path, "100000-ens", CHOSEN)
    diff = diff_runs(a, b)
    assert diff["best_model"] == ["m", "voting of m, n"]
    voting = next(r for r in diff["cv"] if r["model"] == "voting")
    assert voting["a_mean"] is None and voting["b_mean"] == 0.88


def test_summary_says_which_model_was_chosen_and_which_cv_each_score_is(tmp_path):
    run, manifest = _run(tmp_path, "100000-ens", CHOSEN)
    page = write_summary(run, manifest).read_text()
    assert "chosen model <code>voting of m, n</code>" in page
    assert "Chosen: <b><code>voting of m, n</code></b> (voting ensemble)" in page
    assert "searched members nested" in page
    assert "nested CV: the random search re-run on each of the 2 outer training folds" in page
    assert "2-fold CV, settings fixed in advance" in page
