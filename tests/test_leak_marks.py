"""A run that keeps a likely leak is marked wherever its score appears and is never promoted.

Run folders are written by hand (no notebook runs): one honest, one that keeps a likely leak.
The decision is :func:`nblib.ml.data.leaks.kept_likely`; the app writes it to the manifest
(``flags``, ``flag_notes``) and every page and command reads it from there.
"""

from __future__ import annotations

import json

import pytest

from nblib import tracking
from nblib.cli import main as cli
from nblib.engine import artifacts as io
from nblib.factory import app
from nblib.factory.pages import (
    compare_rows,
    diff_runs,
    sweep_rows,
    write_compare_html,
    write_diff_html,
    write_index,
    write_summary,
    write_sweep_html,
)

HOSTILE = 'paid"><script>x</script>'
LIKELY_KEPT = {
    "columns": [HOSTILE],
    "confidence": "likely",
    "action": "kept",
    "reason": "skill",
    "evidence": "alone roc_auc 0.8; ...",
}
POSSIBLE = {"columns": ["age"], "confidence": "possible", "action": "kept", "reason": "leaned-on", "evidence": "..."}


def _run(reports, name, auc, suspects, policy="warn"):
    run = reports / "2026-01-01" / name
    (run / "artifacts").mkdir(parents=True)
    manifest = {
        "run_id": f"2026-01-01/{name}",
        "name": name.split("-", 1)[1],
        "label": name.split("-", 1)[1],
        "status": "succeeded",
        "started": f"2026-01-01T{name[:2]}:00:00",
        "data_sha256": "d",
        "stages": [{"name": "05_evaluate", "status": "succeeded", "seconds": 1.0}],
        "metrics": {"roc_auc": auc},
    }
    (run / "params.yaml").write_text(f"quality:\n  leaks: {policy}\n")
    io.write_json(
        run / "artifacts" / "metrics.json",
        {
            "task": "classification",
            "primary_metric": "roc_auc",
            "best_model": "m",
            "test": {"roc_auc": auc},
            "test_ci": {"roc_auc": [auc - 0.01, auc + 0.01]},
            "cv": {"m": {"mean": auc, "std": 0.01}},
        },
    )
    if suspects is not None:
        io.write_json(run / "artifacts" / "leaks.json", {"policy": policy, "suspects": suspects})
    io.write_json(run / "manifest.json", manifest)
    app._flag(run, manifest)  # what the app does at the end of every run
    return run, manifest


@pytest.fixture
def runs(reports):
    honest = _run(reports, "100000-honest", 0.84, [POSSIBLE])
    leaky = _run(reports, "110000-leaky", 0.99, [LIKELY_KEPT, POSSIBLE])
    return honest, leaky


def test_the_app_marks_only_a_run_that_keeps_a_likely_leak(reports, runs):
    (honest, hm), (leaky, lm) = runs
    assert "flags" not in hm and "flags" not in io.read_json(honest / "manifest.json")
    saved = io.read_json(leaky / "manifest.json")
    assert saved["flags"] == ["leak?"] == lm["flags"]
    assert (
        "quality.leaks: drop" in saved["flag_notes"]["leak?"] and "known_before_outcome" in saved["flag_notes"]["leak?"]
    )
    dropped = _run(reports, "120000-dropped", 0.85, [{**LIKELY_KEPT, "action": "dropped"}], policy="drop")[1]
    declared = _run(
        reports,
        "130000-declared",
        0.85,
        [{"columns": ["x"], "confidence": "declared", "action": "dropped", "reason": "declared"}],
    )[1]
    unchecked = _run(reports, "140000-nocheck", 0.85, None)[1]
    assert not any(m.get("flags") for m in (dropped, declared, unchecked))
    # the mark goes once the leak does (a rerun of the same folder with quality.leaks: drop)
    io.write_json(
        leaky / "artifacts" / "leaks.json", {"policy": "drop", "suspects": [{**LIKELY_KEPT, "action": "dropped"}]}
    )
    app._flag(leaky, lm)
    assert lm["flags"] == [] and io.read_json(leaky / "manifest.json")["flags"] == []


def test_index_list_and_compare_mark_the_leaky_score(reports, runs, capsys):
    (honest, _), (leaky, _) = runs
    page = write_index(reports).read_text()
    assert page.count("class=flag") == 1 and ">leak?</span>" in page
    row = page[page.index(">leaky<") :]
    assert row.index("leak?") < row.index("</tr>")  # on the leaky run's row, beside its score
    assert "<script>x" not in page and "&lt;script&gt;x" in page  # the column name in the title is escaped

    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    leaky_line = next(line for line in out.splitlines() if "leaky" in line and "2026" in line)
    honest_line = next(line for line in out.splitlines() if "honest" in line)
    assert "roc_auc 0.9900 leak?" in leaky_line and "leak?" not in honest_line
    assert "leak?: keeps a likely leak: see the run's summary" in out

    rows, _ = compare_rows([honest, leaky])
    assert [r["flags"] for r in rows] == [[], ["leak?"]]
    html = write_compare_html(rows, [], reports / "c.html").read_text()
    assert html.count(">leak?</span>") == 1
    assert cli.main(["compare", str(honest), str(leaky), "--html", str(reports / "c2.html")]) == 0
    out = capsys.readouterr().out
    assert "test roc_auc 0.9900 leak?" in out and "0.8400 leak?" not in out


def test_diff_marks_the_leaky_side(reports, runs, capsys):
    (honest, _), (leaky, _) = runs
    diff = diff_runs(honest, leaky)
    assert diff["flags"] == [[], ["leak?"]]
    html = write_diff_html(diff, reports / "d.html").read_text()
    assert html.count(">leak?</span>") == 2  # beside B's status and beside B's primary test metric
    json.dumps(diff)
    assert cli.main(["diff", str(honest), str(leaky)]) == 0
    out = capsys.readouterr().out
    assert "status: succeeded -> succeeded leak?" in out
    assert "0.8400 [" in out and "-> 0.9900 leak?" in out


def test_the_sweep_marks_the_leaky_run_and_never_calls_it_best(reports, runs):
    (honest, _), (leaky, _) = runs
    rows = sweep_rows(
        [
            {"label": "honest", "run_dir": honest, "swept": {}, "seconds": 1.0},
            {"label": "leaky", "run_dir": leaky, "swept": {}, "seconds": 1.0},
        ]
    )
    assert [r["flags"] for r in rows] == [[], ["leak?"]]
    page = write_sweep_html(reports / "sweep" / "s.html", rows, [], 2.0).read_text()
    assert page.count(">leak?</span>") == 1
    assert [r["best"] for r in rows] == [True, False]  # 0.84 is the best honest score, 0.99 is not a win


def test_the_summary_opens_with_how_to_fix_it_and_the_card_says_so(reports, runs):
    from nblib.factory.card import write_model_card

    (honest, hm), (leaky, lm) = runs
    page = write_summary(leaky, lm).read_text()
    first = page[page.index("</h1>") :]
    first = first[: first.index("</div>")]
    assert "leak?" in first and "quality.leaks: drop" in first and "data.columns.known_before_outcome" in first
    assert "&lt;script&gt;x" in first and "<script>x" not in page
    assert "leak?" not in write_summary(honest, hm).read_text()
    md, html = write_model_card(leaky, lm)
    assert "leak?" in md.read_text() and "quality.leaks: drop" in html.read_text()


def test_a_leaky_model_is_never_promoted_not_even_as_the_first_champion():
    leak = ["repaid"]
    first = tracking.decide(None, None, "roc_auc", 0.05, leak=leak)
    assert first["decision"] == "leak" and first["reason"].startswith("not promoted: keeps a likely leak ('repaid')")
    better = {"diff": 0.1, "lo": 0.05, "hi": 0.15, "p_value": 1e-6, "test": "DeLong"}
    assert tracking.decide({"version": 1}, better, "roc_auc", 0.05)["decision"] == "promote"
    assert tracking.decide({"version": 1}, better, "roc_auc", 0.05, leak=leak)["decision"] == "leak"
    with pytest.raises(Exception, match="keeps a likely leak"):
        tracking.check_promotion(first, required=True)


def test_the_registry_refuses_a_leaky_run_that_05_would_have_promoted(reports, runs):
    """Even when ``promotion.json`` says promote (an older 05), the session does not move the alias."""

    class Client:
        aliases: list = []

        def get_model_version_by_alias(self, name, alias):
            raise AssertionError("no need to look")

        def set_registered_model_alias(self, *args):
            self.aliases.append(args)

    (_, _), (leaky, lm) = runs
    io.write_json(
        leaky / "artifacts" / "promotion.json",
        {"asked": True, "decision": "promote", "reason": "no champion yet: this model becomes the first"},
    )
    params = {"name": "leaky", "evaluate": {"require_promotion": True}, "tracking": {"experiment": "unit"}}
    session = tracking.Session(leaky, lm, params, tracking.settings(params, reports))
    session.client, session.record["model"] = Client(), {"name": "nblib-leaky", "version": 1}
    out = session.promote()
    assert out["promoted"] is False and out["decision"] == "leak" and out["gated"] is True
    assert "keeps a likely leak" in out["reason"] and not Client.aliases
    assert tracking.describe({"experiment": "e", "promotion": out}).endswith("not promoted: keeps a likely leak")


def test_mlflow_tags_mark_the_leaky_run(reports, runs):
    from mlflow import MlflowClient

    (honest, hm), (leaky, lm) = runs
    params = {"name": "x", "tracking": {"experiment": "unit", "register_model": False}}
    conf = tracking.settings(params, reports)
    client = MlflowClient(tracking_uri=conf["uri"])
    tags = {}
    for name, (run, manifest) in {"honest": (honest, hm), "leaky": (leaky, lm)}.items():
        record = tracking.log(run, manifest, params, conf)
        tags[name] = client.get_run(record["run_id"]).data.tags
    assert tags["leaky"]["nblib.leak_suspect"] == "true" and tags["leaky"]["nblib.leak_columns"] == HOSTILE
    assert tags["honest"]["nblib.leak_suspect"] == "false" and "nblib.leak_columns" not in tags["honest"]


def test_the_sweep_progress_line_carries_the_mark(runs, tmp_path):
    from nblib.factory.sweep import _marks

    (honest, _), (leaky, _) = runs
    assert _marks(leaky) == " leak?" and _marks(honest) == "" and _marks(None) == ""
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text("[1, 2")
    assert _marks(tmp_path / "broken") == ""
