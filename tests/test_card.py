"""The model card: from a real smoke run, from a folder with files missing, and with hostile names."""

import json
import shutil

import pytest

from nblib.card import write_model_card
from tests.conftest import run_cli, run_folders

HOSTILE = "<script>alert(1)</script>|x"

pytestmark = pytest.mark.xdist_group("card")  # one smoke run for the module, on one worker


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    reports = tmp_path_factory.mktemp("reports")
    result = run_cli("run", "params/smoke.yaml", "-p", "evaluate.slices=[category]", reports=reports)
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
    for section in ("Intended use", "Data", "Cleaning", "Quality findings", "Training", "Test metrics", "Slices",
                    "Most important columns", "Caveats", "Leak suspects"):
        assert f"## {section}" in md or f"### {section}" in md
        assert section in html
    assert "Not given: set `description`" in md  # smoke.yaml has no description
    assert "| roc\\_auc (primary) |" in md and "electronics" in md and "category" in md
    assert "reviews\\_first\\_week" in md  # smoke.yaml drops the planted leak
    explain = json.loads((run / "artifacts" / "explain.json").read_text())
    assert explain["importance"]["columns"] and explain["lift"] and explain["slices"]
    assert "not available" not in md.lower()


@pytest.mark.e2e
def test_hostile_values_are_escaped(smoke_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    path = run / "artifacts" / "explain.json"
    explain = json.loads(path.read_text())
    explain["slices"][0]["segment"] = HOSTILE
    explain["importance"]["columns"][0]["column"] = HOSTILE
    path.write_text(json.dumps(explain))
    (run / "params.yaml").write_text((run / "params.yaml").read_text().replace("description: ''",
                                                                               f"description: '{HOSTILE}'"))
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
