"""``nblib serve``: a registered model on MLflow's scoring protocol, on 127.0.0.1.

One tiny tracked run (logistic regression on ``smoke.yaml``) registers ``nblib-smoke`` version 1, the
first ``@champion``; one server started by the command (``--port 0``: a free port, read from its start
line) answers every request of the module. Its answers are compared with what ``nblib predict`` writes
for the same rows, and its refusals with the lines ``nblib predict`` says.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, run_cli, run_folders, start_cli

pytestmark = [pytest.mark.xdist_group("serve"), pytest.mark.timeout(400)]

MODEL = "nblib-smoke"
TRAIN = ["-p", "train.models={logistic_regression: {C: 0.3}}"]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """``(reports, run folder)`` of one tracked smoke run: ``nblib-smoke`` version 1, ``@champion``."""
    reports = tmp_path_factory.mktemp("reports")
    done = run_cli("run", "params/smoke.yaml", "--quiet", *TRAIN, reports=reports)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"model {MODEL} version 1 · @champion" in done.stdout
    return reports, run_folders(reports)[0]


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> Path:
    """New raw rows as a user's file has them: dates as text in several formats, missing text and numbers."""
    from nblib.ml.data.datasets import make_product_launches

    raw = make_product_launches(60, random_state=11).frame.drop(columns=["is_hit", "revenue_k"])
    raw.loc[raw.index[:3], "description"] = None
    path = tmp_path_factory.mktemp("rows") / "rows.csv"
    raw.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def expected(tracked, rows, tmp_path_factory) -> pd.DataFrame:
    """What ``nblib predict RUN rows.csv`` writes."""
    reports, run = tracked
    out = tmp_path_factory.mktemp("predict") / "scored.csv"
    done = run_cli("predict", str(run), str(rows), "-o", str(out), reports=reports)
    assert done.returncode == 0, done.stderr
    return pd.read_csv(out)


@pytest.fixture(scope="module")
def server(tracked, tmp_path_factory):
    """``(base URL, start line, process)`` of ``nblib serve`` (default model: the store's only one), reading
    bodies of up to 1 MB; on SIGTERM it exits 143 and leaves no fetched folder in its TMPDIR."""
    reports, _ = tracked
    tmp = tmp_path_factory.mktemp("serve-tmp")
    proc, url, line = _start(reports, "--max-body-mb", "1", tmp=tmp)
    assert list(tmp.glob("nblib-serve-*"))  # the model's files, fetched
    yield url, line, proc
    proc.send_signal(signal.SIGTERM)  # a graceful stop, as a container runtime asks for one
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert not list(tmp.glob("nblib-serve-*"))


# --------------------------------------------------------------------------- the protocol


def test_ping_health_version_and_which_model_is_served(server):
    url, line, _ = server
    for path in ("/ping", "/health", "/version"):
        status, _ = _get(url + path)
        assert status == 200, path
    status, body = _get(url + "/metadata")
    about = json.loads(body)
    assert status == 200 and (about["name"], about["version"], about["alias"]) == (MODEL, 1, "champion")
    assert re.match(rf"nblib: serving {MODEL} version 1 \(@champion; nblib run \S+; MLflow run \w+\) from sqlite", line)


@pytest.mark.parametrize("form", ["csv", "dataframe_split", "dataframe_records"])
def test_answers_equal_nblib_predict_on_the_same_rows(server, rows, expected, form):
    url, _, _ = server
    frame = pd.read_csv(rows)
    if form == "csv":
        status, body = _post(url, rows.read_bytes(), "text/csv; header=present")  # a parameter not charset: ignored
    else:
        records = [{k: None if pd.isna(v) else v for k, v in r.items()} for r in frame.to_dict(orient="records")]
        payload = (
            {"dataframe_records": records}
            if form == "dataframe_records"
            else {"dataframe_split": {"columns": list(frame.columns), "data": [list(r.values()) for r in records]}}
        )
        kind = "application/json; format=pandas-split; charset=utf-8"  # only charset is read
        status, body = _post(url, json.dumps(payload, default=_native).encode(), kind)
    assert status == 200, body
    answer = json.loads(body)  # strict JSON: a missing value is null, never NaN
    assert set(answer) == {"predictions"} and b"NaN" not in body
    got = pd.DataFrame(answer["predictions"])
    assert list(got.columns) == list(expected.columns)  # the rows as sent, proba, prediction
    np.testing.assert_allclose(got["proba"].to_numpy(float), expected["proba"].to_numpy(float), rtol=1e-12)
    assert got["prediction"].tolist() == expected["prediction"].tolist()  # the user's own labels
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


@pytest.mark.parametrize(
    "case",
    [
        "missing column",
        "not a number",
        "not a date",
        "malformed json",
        "no format key",
        "nested value",
        "content type",
        "nested too deeply",
        "a huge integer",
        "charset among parameters",
        "parquet struct",
        "parquet list",
        "body too large",
    ],
)
def test_bad_requests_get_a_4xx_with_one_line_and_no_traceback(server, rows, case):
    url, _, _ = server
    frame = pd.read_csv(rows).astype(object)
    status_wanted, said = 400, None
    if case == "missing column":
        body, kind, said = frame.drop(columns=["price"]).to_csv(index=False), "text/csv", "missing columns the model "
        said += "needs: 'price'"
    elif case == "not a number":
        frame.loc[2, "price"] = "cheap"
        body, kind, said = frame.to_csv(index=False), "text/csv", "data row 3, column 'price': 'cheap' is not a number"
    elif case == "not a date":
        frame.loc[4, "release_date"] = "someday"
        body, kind = frame.to_csv(index=False), "text/csv"
        said = "data row 5, column 'release_date': 'someday' is not a date"
    elif case == "malformed json":
        body, kind, said = '{"dataframe_records": [', "application/json", "malformed JSON: "
    elif case == "no format key":
        body, kind, said = '{"rows": []}', "application/json", "exactly one of dataframe_split or dataframe_records"
    elif case == "nested value":
        body, kind = json.dumps({"dataframe_records": [{"price": 1.0}, {"price": [1, 2]}]}), "application/json"
        said = "column 'price', row 2: a list"
    elif case == "nested too deeply":  # RecursionError in json.loads
        body, kind, said = "[" * 100_000, "application/json", "malformed JSON: nested too deeply"
    elif case == "a huge integer":  # ValueError, not JSONDecodeError
        body, kind = '{"dataframe_records": [{"price": ' + "9" * 5000 + "}]}", "application/json"
        said = "malformed JSON: a number of more than 4300 digits"
    elif case == "charset among parameters":
        body, kind, status_wanted = rows.read_text(), "text/csv; header=present; charset=latin-1", 415
        said = "charset 'latin-1': only UTF-8 is read"
    elif case.startswith("parquet"):
        cells = [{"x": 1}, {"x": 2}] if case == "parquet struct" else [[1, 2], [3]]
        buffer = io.BytesIO()
        pd.DataFrame({"price": [1.0, 2.0], "a": cells}).to_parquet(buffer)
        body, kind = buffer.getvalue(), "application/vnd.apache.parquet"
        said = f"column 'a', row 1: {'an object' if case == 'parquet struct' else 'a list'}, where a cell holds"
    elif case == "body too large":  # the server's --max-body-mb 1
        body, kind, status_wanted = "a\n" + "1\n" * 600_000, "text/csv", 413
        said = "the body is larger than 1 MB (the server's --max-body-mb)"
    else:
        body, kind, status_wanted, said = rows.read_text(), "text/plain", 415, "content type 'text/plain'"
    status, answer = _post(url, body if isinstance(body, bytes) else body.encode(), kind)
    error = json.loads(answer)
    assert status == status_wanted, error
    assert set(error) == {"error_code", "message"}
    assert said in error["message"] and "\n" not in error["message"] and "Traceback" not in error["message"]
    status, _ = _post(url, rows.read_bytes(), "text/csv")
    assert status == 200  # the server goes on answering


def test_a_bad_cell_is_refused_with_the_line_nblib_predict_says(tracked, server, rows, tmp_path):
    reports, run = tracked
    frame = pd.read_csv(rows).astype(object)
    frame.loc[[1, 6], "marketing_budget"] = ["lots", "n/a!"]
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    status, answer = _post(server[0], bad.read_bytes(), "text/csv")
    message = json.loads(answer)["message"]
    done = run_cli("predict", str(run), str(bad), "-o", str(tmp_path / "out.csv"), reports=reports)
    assert status == 400 and done.returncode == 2
    assert message.startswith("data row 2, column 'marketing_budget': 'lots' is not a number (2 bad cells in 2 rows")
    assert f"nblib: error: {bad}: {message}; fix the file" in done.stderr  # the same words, less the CLI's advice


# --------------------------------------------------------------------------- starting and stopping


def test_a_new_champion_is_served_from_the_next_start(tracked, server, rows, expected, tmp_path):
    """Version 2 (the same pipeline, registered again) becomes champion: the running server keeps serving
    version 1; the next start serves version 2, here with two worker processes."""
    from mlflow import MlflowClient

    reports, _ = tracked
    uri = f"sqlite:///{reports / '.mlflow' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    first = client.get_model_version(MODEL, "1")
    source = client.get_model_version_download_uri(MODEL, "1")  # not first.source: a models:/ URI of the global store
    second = client.create_model_version(MODEL, source, run_id=first.run_id)
    client.set_registered_model_alias(MODEL, "champion", second.version)
    try:
        tmp = tmp_path / "tmp"
        tmp.mkdir()
        proc, url, line = _start(reports, "--params", "params/smoke.yaml", "--workers", "2", tmp=tmp)
        try:
            assert f"serving {MODEL} version {second.version} (@champion" in line and "(2 workers)" in line
            assert json.loads(_get(url + "/metadata")[1])["version"] == int(second.version)
            status, body = _post(url, rows.read_bytes(), "text/csv")
            assert status == 200
            pd.testing.assert_frame_equal(pd.DataFrame(json.loads(body)["predictions"]), expected, check_dtype=False)
        finally:
            proc.send_signal(signal.SIGTERM)
            stopped = proc.wait(timeout=30)
        assert stopped == 128 + signal.SIGTERM  # uvicorn's supervisor returns normally; nblib says which signal
        assert not list(tmp.glob("nblib-serve-*"))
        assert json.loads(_get(server[0] + "/metadata")[1])["version"] == 1  # resolved once, at its start
    finally:
        client.set_registered_model_alias(MODEL, "champion", "1")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_while_the_model_loads_exits_128_plus_it_and_leaves_nothing(tracked, tmp_path, signum):
    """SIGTERM (or Ctrl-C) while the model is fetched or loaded is a stop, not "the model cannot be loaded":
    MLflow's loader is replaced by one that gets the signal mid-load, inside nblib's ``except Exception``."""
    script = (
        "import os, sys, time, mlflow.pyfunc\n"
        "def load_model(*args, **kwargs):\n"
        f"    os.kill(os.getpid(), {int(signum)})\n"
        "    time.sleep(60)\n"
        "mlflow.pyfunc.load_model = load_model\n"
        "from nblib.cli.main import main\n"
        "sys.exit(main(['serve', '--port', '0']))\n"
    )
    env = {**os.environ, "NBLIB_REPORTS": str(tracked[0]), "PYTHONWARNINGS": "ignore", "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 128 + signum, done.stderr[-2000:]
    assert "cannot be loaded" not in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert not list(tmp_path.glob("nblib-serve-*"))  # the fetched files removed


@pytest.mark.parametrize(
    "args, said",
    [
        pytest.param(["models:/nblib-smok@champion"], "no registered model 'nblib-smok' in sqlite:", id="name"),
        pytest.param([f"models:/{MODEL}@staging"], f"{MODEL} has no @staging version in sqlite:", id="alias"),
        pytest.param([f"models:/{MODEL}/9"], f"{MODEL} has no version 9 in sqlite:", id="version"),
    ],
)
def test_an_unknown_model_or_alias_exits_2_with_one_line(tracked, args, said):
    done = run_cli("serve", *args, "--port", "0", reports=tracked[0], timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith(f"nblib: error: {said}") and done.stderr.count("\n") == 1, done.stderr


def test_no_store_and_a_port_in_use_exit_2_with_one_line(tracked, tmp_path):
    done = run_cli("serve", "--port", "0", reports=tmp_path, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"nblib: error: no tracking store at {tmp_path / '.mlflow' / 'mlflow.db'}")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli("serve", "--port", str(port), reports=tracked[0], timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"nblib: error: 127.0.0.1:{port}: the port is in use"), done.stderr


# --------------------------------------------------------------------------- without a server


def test_reading_rows_names_what_is_wrong(monkeypatch):
    from nblib.tracking import server
    from nblib.tracking.server import RequestError, read_rows

    split = b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1, "2024-01-31"], [null, "x"]]}}'
    frame = read_rows(split, "application/json; charset=utf-8")
    assert frame["b"].tolist() == ["2024-01-31", "x"] and frame["a"].iloc[0] == 1 and pd.isna(frame["a"].iloc[1])
    columns = read_rows(b'{"inputs": {"a": [1, 2], "b": ["x", "y"]}}', "application/json")
    assert columns.shape == (2, 2)
    kind = 'application/json; format=pandas-split; x=y; charset="UTF-8"'  # only the charset parameter is read
    assert read_rows(b'{"inputs": {"a": [1]}}', kind).shape == (1, 1)
    for body, kind, status, said in [
        (b"\xff\xfe", "text/csv", 400, "not UTF-8"),
        (b"", "text/csv", 400, "the CSV is empty"),
        (b"{}", "application/json", 400, "its keys: none"),
        (b'{"dataframe_records": {"a": 1}}', "application/json", 400, "must be a list of objects"),
        (b'{"dataframe_split": {"columns": ["a", "a"], "data": [[1, 2]]}}', "application/json", 400, "given twice"),
        (b"a\n1\n", "text/csv; charset=latin-1", 415, "only UTF-8"),
        (b"a\n1\n", None, 415, "content type '(none)'"),
        (b"a\n1\n", "text/csv; header=present; charset=latin-1", 415, "charset 'latin-1'"),
        (b'{"inputs": [' * 50_000, "application/json", 400, "nested too deeply"),
    ]:
        with pytest.raises(RequestError) as caught:
            read_rows(body, kind)
        assert caught.value.status == status and said in str(caught.value), (body, str(caught.value))

    def choke(text):
        raise IndexError("list index out of range")

    monkeypatch.setattr(server, "_csv_rows", choke)  # whatever else reading the body raises is the body's fault
    with pytest.raises(RequestError, match="the body cannot be read: IndexError: list index out of range") as caught:
        read_rows(b"a\n1\n", "text/csv")
    assert (caught.value.status, caught.value.error_code) == (400, "MALFORMED_REQUEST")


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_the_app_refuses_a_body_over_its_limit_even_unannounced_and_a_models_failure_is_500():
    from starlette.testclient import TestClient

    from nblib.tracking.server import Served, make_app

    class Failing:
        def predict(self, frame):
            raise RuntimeError("out of memory\nsecond line")

    client = TestClient(make_app(Failing(), Served("models:/m/1", "sqlite:////x.db"), max_body_mb=0.001))
    csv = {"content-type": "text/csv"}
    for body in (b"a\n" + b"1\n" * 1000, iter([b"a\n", b"1\n" * 1000])):  # Content-Length, then chunked
        answer = client.post("/invocations", content=body, headers=csv)
        assert answer.status_code == 413 and answer.json()["error_code"] == "RESOURCE_LIMIT_EXCEEDED"
        assert answer.json()["message"].startswith("the body is larger than 0.001 MB")
    answer = client.post("/invocations", content=b"a\n1\n", headers=csv)
    assert answer.status_code == 500 and answer.json()["message"] == "the model failed: RuntimeError: out of memory"
    assert client.get("/ping").status_code == 200


def test_predictions_are_strict_json_with_the_users_labels():
    from nblib.tracking.server import predictions_json

    scored = pd.DataFrame(
        {
            "when": ["2024-01-31", None],
            "x": [np.inf, np.nan],
            "proba_yes": np.array([0.25, 0.75]),
            "prediction": np.array([True, False], dtype=object),
            "n": np.array([1, 2], dtype=np.int64),
            "t": pd.to_datetime(["2024-01-31", None]),
        }
    )
    answer = json.loads(predictions_json(scored))
    assert answer["predictions"][0] == {
        "when": "2024-01-31",
        "x": None,
        "proba_yes": 0.25,
        "prediction": True,
        "n": 1,
        "t": "2024-01-31T00:00:00",
    }
    assert answer["predictions"][1]["t"] is None and answer["predictions"][1]["when"] is None


# --------------------------------------------------------------------------- helpers


def _start(reports: Path, *args: str, tmp: Path | None = None):
    """``nblib serve --port 0 ARGS`` (its TMPDIR ``tmp``): ``(process, base URL, start line)`` once ``/ping``
    answers."""
    with pytest.MonkeyPatch.context() as env:
        if tmp is not None:
            env.setenv("TMPDIR", str(tmp))
        proc = start_cli("serve", "--port", "0", *args, reports=reports)
    line = proc.stderr.readline().strip()  # the one line said once the model is loaded and the port bound
    found = re.search(r" on (http://127\.0\.0\.1:\d+)", line)
    if found is None:
        proc.kill()
        raise AssertionError(line + proc.stderr.read())
    url = found.group(1)
    import time

    deadline = time.monotonic() + 60
    while _get(url + "/ping")[0] != 200:
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.2)
    return proc, url, line


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def _post(url: str, body: bytes, content_type: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url + "/invocations", data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _native(value):
    return value.item() if hasattr(value, "item") else str(value)


def test_a_run_folder_a_name_and_a_runs_uri_name_the_version_that_run_registered(tracked):
    from nblib.engine.manifest import read_manifest
    from nblib.tracking.server import ServeError, from_run, resolve

    reports, run = tracked
    store = f"sqlite:///{reports / '.mlflow' / 'mlflow.db'}"
    served = from_run(run, read_manifest(run))
    assert (served.uri, served.name, served.version, served.store) == (f"models:/{MODEL}/1", MODEL, 1, store)
    assert served.nblib_run == read_manifest(run)["run_id"]
    assert resolve(MODEL, store=store).uri == f"models:/{MODEL}/1"  # a bare name: its @champion
    by_run = resolve(f"runs:/{served.run_id}/model", store=store)
    assert (by_run.uri, by_run.name, by_run.nblib_run) == (f"runs:/{served.run_id}/model", None, served.nblib_run)
    with pytest.raises(ServeError, match="this run registered no model"):
        from_run(run, {**read_manifest(run), "tracking": {}})
