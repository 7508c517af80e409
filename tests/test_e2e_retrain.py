"""Scheduled retraining, end to end (issue 18 §5), with real Apache Airflow (``.venv-airflow``) and a real server.

1. The DAG of ``nblib export airflow`` runs (``airflow dags test``) on the data of day one: a table whose
   outcomes were shuffled, so its model knows nothing. As the registry's first version it becomes ``@champion``;
   ``notify.on_promotion`` is called; ``nblib serve`` serves version 1.
2. New data lands at the same path: real outcomes. The next DAG run retrains, ``05_evaluate`` compares the
   challenger with the champion on the same test rows, and it is promoted because it is significantly better;
   ``notify.on_promotion`` is called again.
3. ``nblib serve``, started again, serves version 2, and answers as ``nblib predict`` does with that run's model.
4. Day three's data (new rows, real outcomes) retrains a model as good as the champion, not significantly
   better: it is not promoted, ``@champion`` stays on version 2 and nothing is notified.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request

import pandas as pd
import pytest
import yaml
from conftest import ROOT, run_cli, start_cli

pytestmark = [pytest.mark.xdist_group("retrain"), pytest.mark.e2e, pytest.mark.timeout(1500)]

AIRFLOW = ROOT / ".venv-airflow" / "bin" / "airflow"
NAME = "retrain"

PARAMS = {
    "name": NAME,
    "seed": 7,
    "data": {"target": "is_hit", "drop_columns": ["revenue_k", "reviews_first_week"]},  # no leak: honest models
    "quality": {"leaks": "drop"},
    "features": {"text": {"max_features": 200, "svd_components": 8}},
    "train": {"cv_folds": 2, "learning_curve": False, "models": {"logistic_regression": {"C": 0.3}}},
    "evaluate": {"bootstrap": 50, "importance_repeats": 0, "partial_dependence": 0, "promote": True},
    "schedule": {"cron": "@daily", "retries": 0},
    "compute": {"n_jobs": 1},
}


def _day(rows: int, seed: int, shuffled: bool):
    """A day's table of the generator; ``shuffled``: the outcomes in a random order (nothing to learn)."""
    from nblib.ml.data.datasets import make_product_launches

    frame = make_product_launches(rows, random_state=seed).frame
    if shuffled:
        frame["is_hit"] = frame["is_hit"].sample(frac=1.0, random_state=seed).to_numpy()
    return frame


def _dag_run(env: dict, base, dag_file) -> str:
    """One ``airflow dags test`` of the DAG; its output (the task logs are in it)."""
    done = subprocess.run(
        [str(AIRFLOW), "dags", "test", f"nblib_{NAME}", "-f", str(dag_file)],
        cwd=base, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    return out


def _served_version(reports) -> tuple[int, str, subprocess.Popen]:
    """Start ``nblib serve`` (its default: the store's one model, ``@champion``): the version it serves, its URL."""
    proc = start_cli("serve", "--port", "0", reports=reports)
    line = proc.stderr.readline().strip()
    found = re.search(rf"serving nblib-{NAME} version (\d+) \(@champion.* on (http://127\.0\.0\.1:\d+)", line)
    if found is None:
        proc.kill()
        raise AssertionError(line + proc.stderr.read())
    url = found.group(2)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/ping", timeout=5) as answer:
                if answer.status == 200:
                    break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
    return int(found.group(1)), url, proc


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


def _champion(reports) -> int:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{reports / '.mlflow' / 'mlflow.db'}")
    return int(client.get_model_version_by_alias(f"nblib-{NAME}", "champion").version)


def test_a_scheduled_retrain_is_promoted_only_when_better_and_served_on_the_next_start(tmp_path):
    if not AIRFLOW.exists():
        pytest.fail(f"{AIRFLOW}: not installed; run make airflow", pytrace=False)
    base, dags, reports, data = tmp_path, tmp_path / "dags", tmp_path / "reports", tmp_path / "data"
    reports.mkdir()
    data.mkdir()
    today = data / "launches.csv"  # where each day's new table lands
    _day(600, 3, shuffled=True).to_csv(today, index=False)
    promotions, failures = tmp_path / "promotions.jsonl", tmp_path / "failures.jsonl"
    record = """python3 -c 'import json, os; print(json.dumps({k: v for k, v in os.environ.items() \
if k.startswith("NBLIB_")}))' >> """
    params = tmp_path / f"{NAME}.yaml"
    spec = {**PARAMS, "data": {**PARAMS["data"], "source": str(today)}}
    spec["notify"] = {"on_promotion": record + str(promotions), "on_failure": record + str(failures)}
    params.write_text(yaml.safe_dump(spec))
    exported = run_cli("export", "airflow", str(params), "-o", str(dags), reports=reports)
    assert exported.returncode == 0, exported.stderr
    dag_file = dags / f"nblib_{NAME}.py"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(base / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "NBLIB_REPORTS": str(reports),
        "PYTHONWARNINGS": "ignore",
    }
    migrated = subprocess.run([str(AIRFLOW), "db", "migrate"], cwd=base, env=env, capture_output=True, text=True)
    assert migrated.returncode == 0, migrated.stderr[-3000:]

    # day one: nothing to learn; the first version becomes champion, and is served
    _dag_run(env, base, dag_file)
    assert _champion(reports) == 1
    (first,) = [json.loads(line) for line in promotions.read_text().splitlines()]
    assert (first["NBLIB_EVENT"], first["NBLIB_MODEL"], first["NBLIB_MODEL_VERSION"]) == (
        "promotion", f"nblib-{NAME}", "1"
    )  # fmt: skip
    version, _, server = _served_version(reports)
    _stop(server)
    assert version == 1

    # day two: real outcomes land at the same path; the retrained model is significantly better
    _day(1500, 4, shuffled=False).to_csv(today, index=False)
    _dag_run(env, base, dag_file)
    assert _champion(reports) == 2
    runs = sorted(p for p in reports.glob("*/*-retrain-*") if (p / "manifest.json").exists())
    second = runs[-1]
    promotion = json.loads((second / "artifacts" / "promotion.json").read_text())
    assert promotion["decision"] == "promote" and promotion["champion"]["version"] in (1, "1"), promotion
    events = [json.loads(line) for line in promotions.read_text().splitlines()]
    assert [e["NBLIB_MODEL_VERSION"] for e in events] == ["1", "2"]
    assert events[-1]["NBLIB_RUN_DIR"] == str(second)

    # the server's next start serves the new champion, and answers as nblib predict does with its model
    rows = tmp_path / "rows.csv"
    _day(60, 11, shuffled=False).drop(columns=["is_hit", "revenue_k"]).to_csv(rows, index=False)
    scored = tmp_path / "scored.csv"
    assert run_cli("predict", str(second), str(rows), "-o", str(scored), reports=reports).returncode == 0
    version, url, server = _served_version(reports)
    try:
        assert version == 2
        request = urllib.request.Request(
            url + "/invocations", data=rows.read_bytes(), headers={"Content-Type": "text/csv"}
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            got = pd.DataFrame(json.loads(answer.read())["predictions"])
    finally:
        _stop(server)
    expected = pd.read_csv(scored)
    assert got["prediction"].tolist() == expected["prediction"].tolist()
    assert got["proba"].round(10).tolist() == expected["proba"].round(10).tolist()

    # day three: new rows, as good as the champion and no better: compared, kept; nothing notified or failed
    _day(1500, 5, shuffled=False).to_csv(today, index=False)
    _dag_run(env, base, dag_file)
    third = sorted(p for p in reports.glob("*/*-retrain-*") if (p / "manifest.json").exists())[-1]
    assert third != second
    decision = json.loads((third / "artifacts" / "promotion.json").read_text())
    assert decision["decision"] == "keep", decision
    assert _champion(reports) == 2
    assert len(promotions.read_text().splitlines()) == 2 and not failures.exists()
