"""End-to-end on user tables as they come: Yes/No labels, three classes, numbers and dates written
as text, free text with line breaks and quotes, a post-outcome column, hostile column names."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli, run_folders

pytestmark = pytest.mark.e2e

ESCAPE = f"../../../../tmp/nblib-escape-{uuid.uuid4().hex[:8]}"
SCRIPT = 'x" onerror="alert(7)'


def churn_table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "premium", "family"], n, p=[0.5, 0.3, 0.2])
    usage = rng.gamma(2, 10, n)
    logit = -1 + 1.2 * (plan == "basic") - 0.04 * usage + rng.normal(0, 0.5, n)
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    dates = pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    formats = rng.choice(["%Y-%m-%d", "%d %b %Y", "%B %d, %Y"], n)
    notes = [
        f"{t} (ticket {i})"
        for i, t in enumerate(
            rng.choice(["called twice,\r\nangry", 'said "fine"', "no notes", "asked about\nprices, again"], n)
        )
    ]
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "plan": plan,
            ESCAPE: rng.choice(["north", "south", "east"], n),
            SCRIPT: rng.normal(size=n),
            "monthly_fee": [f"${v:,.2f}" for v in rng.gamma(3, 400, n)],
            "usage_hours": usage.round(1),
            "signup": [d.strftime(f) for d, f in zip(dates, formats, strict=True)],
            "notes": notes,
            "refund_total": churned * rng.gamma(2, 20, n) + rng.normal(0, 8, n),  # known only after churn
            "churned": np.where(churned, "Yes", "No"),
        }
    )
    frame.loc[rng.random(n) < 0.03, "plan"] = "premum"  # a typo of a frequent label
    frame.loc[rng.random(n) < 0.02, "churned"] = "yes "  # the same label, written differently
    return frame


def test_a_yes_no_table_runs_with_two_keys_and_nothing_escapes(reports, tmp_path):
    data = tmp_path / "churn.csv"
    churn_table(500, 0).to_csv(data, index=False)
    params = tmp_path / "churn.yaml"
    params.write_text(f"data: {{source: {data}, target: churned}}\n")
    result = run_cli("run", str(params), reports=reports)
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = run_folders(reports)
    art = run / "artifacts"

    metrics = json.loads((art / "metrics.json").read_text())
    assert metrics["classes"] == ["No", "Yes"] and metrics["positive_class"] == "Yes"
    cleaning = json.loads((art / "cleaning.json").read_text())
    assert cleaning["rows_out"] == 500 and cleaning["rows_dropped"] == 0  # every row kept
    leaks = json.loads((art / "leaks.json").read_text())
    assert leaks["policy"] == "warn"
    assert any(s["columns"] == ["refund_total"] and s["action"] == "kept" for s in leaks["suspects"])
    from nblib.ml.data.leaks import kept_likely

    flags = json.loads((run / "manifest.json").read_text()).get("flags") or []
    assert ("leak?" in flags) == bool(kept_likely(leaks))  # a kept likely leak marks the run, and only then
    assert "LEAK SUSPECT" in result.stdout and "positive class: 'Yes'" in result.stdout
    columns = json.loads((art / "columns.json").read_text())
    assert "monthly_fee" in columns["roles"]["numeric"] and "signup" in columns["roles"]["date"]
    assert "notes" in columns["roles"]["text"] and "customer_id" in columns["roles"]["ignore"]
    assert cleaning["label_merges"] and cleaning["label_merges"][0]["variant"] == "premum"

    # nothing derived from a column name lands outside the run folder or runs as script
    assert not list(Path("/tmp").glob(f"{Path(ESCAPE).name}*"))
    figures = list((art / "figures").rglob("*.png"))
    assert figures and all(f.resolve().is_relative_to(run.resolve()) for f in figures)
    summary = (run / "summary.html").read_text()
    assert 'onerror="alert' not in summary and "<script" not in summary.lower()
    assert "refund_total" in summary and "What cleaning did" in summary

    # predict writes labels in the user's values and a CSV that reads back with every text intact
    new = churn_table(40, 1).drop(columns=["churned"])
    new_path, scored = tmp_path / "new.csv", tmp_path / "scored.csv"
    new.to_csv(new_path, index=False)
    res = run_cli("predict", str(run), str(new_path), "-o", str(scored), reports=reports)
    assert res.returncode == 0, res.stderr
    back = pd.read_csv(scored)
    assert len(back) == 40 and set(back["prediction"]) <= {"Yes", "No"} and back["proba"].between(0, 1).all()
    assert back["notes"].tolist() == pd.read_csv(new_path)["notes"].tolist()
    for output, message in (
        (new_path, "is the input file"),
        (tmp_path, "is a folder"),
        (tmp_path / "scored.txt", "unknown output type"),
    ):
        res = run_cli("predict", str(run), str(new_path), "-o", str(output), reports=reports)
        assert res.returncode == 2 and message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert len(pd.read_csv(new_path)) == 40  # the input file is untouched


def test_three_classes_and_an_ambiguous_pair(reports, tmp_path):
    rng = np.random.default_rng(4)
    n = 300
    x = rng.normal(size=(n, 3))
    species = np.array(["Adelie penguin", "Gentoo", "Chinstrap"])[np.argmax(x + rng.normal(0, 0.7, (n, 3)), 1)]
    frame = pd.DataFrame(x, columns=["bill", "flipper", "mass"]).assign(species=species)
    # R's row names kept as a column, and birds of one colony (an entity, data.group) that must stay together
    frame.insert(0, "rownames", np.arange(1, n + 1))
    frame["colony"] = [f"col{i:02d}" for i in rng.integers(0, 40, n)]
    data = tmp_path / "penguins.parquet"
    frame.to_parquet(data)
    params = tmp_path / "penguins.yaml"
    params.write_text(f"data: {{source: {data}, target: species, group: colony}}\nevaluate: {{bootstrap: 50}}\n")
    result = run_cli("run", str(params), reports=reports)
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = run_folders(reports)
    roles = json.loads((run / "artifacts" / "columns.json").read_text())["roles"]
    assert {"rownames", "colony"} <= set(roles["ignore"]) and roles["numeric"] == ["bill", "flipper", "mass"]
    entities = json.loads((run / "artifacts" / "cleaning.json").read_text())["entities"]
    assert entities["group"] == "colony" and entities["overlap_rows"] == 0 and entities["index_columns"] == ["rownames"]
    train = pd.read_parquet(run / "artifacts" / "train.parquet")
    test = pd.read_parquet(run / "artifacts" / "test.parquet")
    assert not set(train["colony"]) & set(test["colony"])
    assert (train.groupby("colony")["__nblib_group__"].nunique() == 1).all()  # what 04's folds group by
    assert "'rownames' is a row number (" in result.stdout and "data.group 'colony'" in result.stdout
    metrics = json.loads((run / "artifacts" / "metrics.json").read_text())
    assert sorted(metrics["classes"]) == sorted(set(species)) and metrics["positive_class"] is None
    assert np.array(metrics["confusion_matrix"]).shape == (3, 3) and metrics["test"]["roc_auc"] > 0.7
    scored = tmp_path / "scored.parquet"
    res = run_cli("predict", str(run), str(data), "-o", str(scored), reports=reports)
    assert res.returncode == 0, res.stderr
    out = pd.read_parquet(scored)
    probas = [f"proba_{c}" for c in metrics["classes"]]
    assert np.allclose(out[probas].sum(axis=1), 1) and set(out["prediction"]) <= set(species)

    # two labels, neither obviously positive: refused before anything runs, naming the labels
    frame.assign(species=np.where(species == "Gentoo", "good", "bad")).to_parquet(data)
    result = run_cli("run", str(params), reports=reports)
    assert result.returncode == 2 and "data.positive_class" in result.stderr and "'good'" in result.stderr
    assert len(run_folders(reports)) == 1


def test_a_class_with_11_rows_runs_to_the_end(reports, tmp_path):
    """Issue 14: a rare class (11 rows, 2 in the test split) once crashed evaluation after the whole run."""
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame.rename(columns={"target": "cultivar"})
    frame["cultivar"] = np.asarray(["barolo", "grignolino", "barbera"], dtype=object)[frame["cultivar"]]
    rare = frame.index[frame["cultivar"] == "barbera"][::4][:11]
    frame = frame[(frame["cultivar"] != "barbera") | frame.index.isin(rare)]
    data = tmp_path / "wine.csv"
    frame.to_csv(data, index=False)
    result = run_cli(
        "run",
        "params/smoke.yaml",
        "--quiet",
        "-p",
        f"data.source={data}",
        "-p",
        "data.target=cultivar",
        "-p",
        "data.drop_columns=[]",
        "-p",
        "evaluate.slices=[alcohol]",
        reports=reports,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = run_folders(reports)
    metrics = json.loads((run / "artifacts" / "metrics.json").read_text())
    assert sorted(metrics["classes"]) == ["barbera", "barolo", "grignolino"]
    assert np.array(metrics["confusion_matrix"]).sum(axis=1)[metrics["classes"].index("barbera")] == 2
    explained = json.loads((run / "artifacts" / "explain.json").read_text())
    assert explained["importance"]["columns"] and explained["slices"]
