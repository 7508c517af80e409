"""The model card: from a real smoke run, from a folder with files missing, and with hostile names."""

import json
import shutil

import pytest
from conftest import run_cli, run_folders

from nblib.factory.card import write_model_card

HOSTILE = "<script>alert(1)</script>|x"

pytestmark = pytest.mark.xdist_group("card")  # one smoke run for the module, on one worker


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """The smoke params with 3 folds: on this seeded data the weighted selection (the default) beats every
    family, by 0.014 (with smoke's 2 folds it ties the linear model since dates gained days_since_1970)."""
    reports = tmp_path_factory.mktemp("reports")
    args = ("params/smoke.yaml", "-p", "evaluate.slices=[category]", "-p", "train.cv_folds=3")
    result = run_cli("run", *args, reports=reports)
    assert result.returncode == 0, result.stderr
    (run,) = run_folders(reports)
    return run


@pytest.mark.e2e
def test_card_from_a_smoke_run(smoke_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    md_path, html_path = write_model_card(run, json.loads((run / "manifest.json").read_text()))
    assert md_path == run / "model_card.md" and html_path == run / "model_card.html"
    md, html = md_path.read_text(), html_path.read_text()
    for section in (
        "Intended use",
        "Data",
        "Cleaning",
        "Quality findings",
        "Training",
        "Test metrics",
        "Slices",
        "Most important columns",
        "Caveats",
        "Leak suspects",
    ):
        assert f"## {section}" in md or f"### {section}" in md
        assert section in html
    assert "Not given: set `description`" in md  # smoke.yaml has no description
    assert "| roc\\_auc (primary) |" in md and "electronics" in md and "category" in md
    assert "reviews\\_first\\_week" in md  # smoke.yaml drops the planted leak
    explain = json.loads((run / "artifacts" / "explain.json").read_text())
    assert explain["importance"]["columns"] and explain["lift"] and explain["slices"]
    assert "not available" not in md.lower()


@pytest.mark.e2e
def test_when_an_ensemble_wins_every_page_and_command_names_it(smoke_run):
    """The saved estimator, cv_results.json, metrics.json, the summary, the model card and `nblib list` agree."""
    from sklearn.ensemble import StackingClassifier, VotingClassifier

    from nblib.engine import artifacts as io
    from nblib.ml.saved import TRUSTED_TYPES

    art = smoke_run / "artifacts"
    cv = json.loads((art / "cv_results.json").read_text())
    metrics = json.loads((art / "metrics.json").read_text())
    chosen = cv["chosen"]
    assert chosen["kind"] == "selection" and cv["ensemble"]["winner"] == "selection"  # the premise of this test
    assert metrics["chosen"] == chosen and metrics["best_model"] == cv["best_model"] == "selection"
    assert chosen["cv_scores"] == cv["ensemble"]["candidates"]["selection"]["scores"]
    weights = cv["ensemble"]["weights"]
    assert list(weights) == chosen["members"] and abs(sum(weights.values()) - 1) < 1e-9
    assert metrics["cv_vs_test"]["cv"] == chosen["cv_mean"] != cv["models"][cv["best_single"]]["mean"]
    final = io.read_model(art / "model.skops", TRUSTED_TYPES)
    while not isinstance(final, (VotingClassifier, StackingClassifier)) and hasattr(final, "estimator"):
        final = final.estimator  # the decision-threshold wrapper
    assert isinstance(final, VotingClassifier) and [n for n, _ in final.estimators] == chosen["members"]
    assert final.weights == list(weights.values())
    summary = (smoke_run / "summary.html").read_text()
    assert f"chosen model <code>{chosen['label']}</code>" in summary and chosen["cv_note"] in summary.replace(
        "&#39;", "'"
    )
    card = (smoke_run / "model_card.md").read_text()
    assert "chosen model: selection, a selection ensemble of " in card
    assert "{'" not in card  # no raw dict
    listed = run_cli("list", reports=smoke_run.parent.parent)
    assert listed.returncode == 0, listed.stderr
    (row,) = [line for line in listed.stdout.splitlines() if smoke_run.name in line]
    assert " selection " in row and f"{chosen['cv_mean']:.4f}" in row


@pytest.mark.e2e
def test_hostile_values_are_escaped(smoke_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    path = run / "artifacts" / "explain.json"
    explain = json.loads(path.read_text())
    explain["slices"][0]["segment"] = HOSTILE
    explain["importance"]["columns"][0]["column"] = HOSTILE
    path.write_text(json.dumps(explain))
    (run / "params.yaml").write_text(
        (run / "params.yaml").read_text().replace("description: ''", f"description: '{HOSTILE}'")
    )
    md_path, html_path = write_model_card(run, {"run_id": "r", "status": "succeeded"})
    md, html = md_path.read_text(), html_path.read_text()
    assert "<script>" not in md and "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    rows = [line for line in md.splitlines() if "alert(1)" in line and line.startswith("|")]
    assert len(rows) == 2
    for row in rows:  # an escaped pipe does not add a table cell
        header = md.splitlines()[md.splitlines().index(row) - 1]
        while not header.startswith("| ---"):
            header = md.splitlines()[md.splitlines().index(header) - 1]
        assert row.replace("\\|", "").count("|") == header.count("|")


def test_card_of_a_folder_with_files_missing(tmp_path):
    run = tmp_path / "run"
    (run / "artifacts").mkdir(parents=True)
    (run / "artifacts" / "metrics.json").write_text("{not json")
    (run / "params.yaml").write_text("name: broken\ndescription: scores launches\n")
    md_path, html_path = write_model_card(run, {"run_id": "x", "status": "failed", "error": "02_preprocess failed"})
    md, html = md_path.read_text(), html_path.read_text()
    assert "scores launches" in md and "scores launches" in html
    assert md.count("Not available.") >= 7 and html.count("Not available.") >= 7
    assert "status failed" in md and "02\\_preprocess failed" in md


def test_the_card_names_a_chosen_ensemble_with_its_members_and_cv(tmp_path):
    """An ensemble was saved: the card says so in words (kind, members, its CV and which CV), never a raw dict."""
    run = tmp_path / "run"
    (run / "artifacts").mkdir(parents=True)
    (run / "params.yaml").write_text("name: ens\n")
    chosen = {
        "name": "stacking",
        "kind": "stacking",
        "label": "stacking of rf, lr",
        "cv_mean": 0.8123,
        "cv_std": 0.0101,
        "cv_scores": [0.80, 0.82],
        "members": ["rf", "lr"],
        "searched": True,
        "cv_note": "2-fold CV; searched members nested",
        "scoring": "roc_auc",
        "folds": 2,
    }
    cv = {
        "scoring": "roc_auc",
        "folds": 2,
        "best_model": "stacking",
        "best_single": "rf",
        "chosen": chosen,
        "models": {"rf": {"mean": 0.79, "std": 0.01}, "lr": {"mean": 0.75, "std": 0.01}},
        "ensemble": {"winner": "stacking", "candidates": {"stacking": {"verdict": "winner: +0.02 over rf"}}},
    }
    metrics = {
        "task": "classification",
        "primary_metric": "roc_auc",
        "test": {"roc_auc": 0.8},
        "n_test": 100,
        "best_model": "stacking",
        "chosen": chosen,
    }
    (run / "artifacts" / "cv_results.json").write_text(json.dumps(cv))
    (run / "artifacts" / "metrics.json").write_text(json.dumps(metrics))
    md_path, html_path = write_model_card(run, {"run_id": "x", "status": "succeeded"})
    md, html = md_path.read_text(), html_path.read_text()
    for page in (md, html):
        assert (
            "stacking</code>, a stacking ensemble of rf, lr" in page
            or "stacking, a stacking ensemble of rf, lr" in page
        )
        assert "0.8123" in page and "searched members nested" in page and "winner: +0.02 over rf" in page
        assert "{" not in page.split("Training", 1)[1].split("Test metrics", 1)[0]  # no raw dict
    assert "Chosen model stacking of rf, lr on 100 held-out rows" in md
