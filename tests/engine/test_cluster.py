"""compute.backend: dask on a real LocalCluster (worker processes, no mocks): start, probe, record, stop;
an unreachable scheduler; joblib's work and bayes trials on the workers give the same results as local."""

from __future__ import annotations

import os
import socket
import time

import numpy as np
import pandas as pd
import psutil
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from nblib.engine.cluster import ADDRESS_VARIABLE, Cluster, ClusterUnavailable, connect, parse_address
from nblib.engine.errors import ParamsError
from nblib.factory.params import Params
from nblib.ml.training.search import dask_client, search_family

pytestmark = pytest.mark.xdist_group("dask")  # one cluster for the module, on one test worker


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    shared = tmp_path_factory.mktemp("shared")
    with Cluster(n_workers=2, threads_per_worker=1, memory_limit="1GB", shared_dir=shared, dashboard=False) as c:
        yield c


@pytest.fixture
def on_cluster(cluster):
    """joblib's backend is the cluster for one test (what a stage's kernel does for the whole stage)."""
    from joblib import parallel_config

    with parallel_config():  # undoes, on the way out, the backend connect() sets for the rest of the process
        client = connect()
        yield client
    client.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_run_cluster_is_started_probed_and_recorded(cluster):
    assert os.environ[ADDRESS_VARIABLE] == cluster.client.scheduler.address
    assert not list(cluster.shared_dir.glob(".nblib-probe*"))  # the probe files are gone
    record = cluster.record()
    assert record["backend"] == "dask" and record["started"] == "LocalCluster"
    assert len(record["workers"]) == 2
    assert all(w["threads"] == 1 and w["memory_limit"] == 10**9 and w["pid"] for w in record["workers"])
    assert "2 worker(s), 2 thread(s)" in cluster.describe()


def test_joblib_work_runs_on_the_workers_with_the_local_result(on_cluster, cluster):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5))
    y = (X[:, 0] + rng.normal(size=400) > 0).astype(int)
    before = cluster.record()["tasks"]
    remote = cross_val_score(LogisticRegression(), X, y, cv=5, n_jobs=-1)
    assert cluster.record()["tasks"] > before  # observed on the workers, not run here
    from joblib import parallel_config

    with parallel_config(backend="loky"):  # noqa: SIM117
        local = cross_val_score(LogisticRegression(), X, y, cv=5, n_jobs=2)
    np.testing.assert_array_equal(remote, local)


def _inner(i):
    from joblib import Parallel, delayed

    return sum(Parallel(n_jobs=-1)(delayed(abs)(-j) for j in range(i)))


def test_only_calls_that_ask_for_workers_go_to_the_cluster(on_cluster, cluster):
    """n_jobs unset or 1 stays here (a ColumnTransformer inside every predict), and a task's own Parallel
    calls run inside it: joblib's Dask backend would send both to the cluster as tasks of milliseconds."""
    from joblib import Parallel, delayed

    before = cluster.record()["tasks"]
    assert Parallel()(delayed(abs)(-i) for i in range(6)) == [0, 1, 2, 3, 4, 5]
    assert Parallel(n_jobs=1)(delayed(abs)(-i) for i in range(6)) == [0, 1, 2, 3, 4, 5]
    assert cluster.record()["tasks"] == before
    assert Parallel(n_jobs=-1)(delayed(_inner)(i) for i in range(6)) == [0, 0, 1, 3, 6, 10]
    assert before < cluster.record()["tasks"] <= before + 6  # the outer calls only, perhaps batched


def test_bayes_trials_are_dask_futures_with_the_same_search(on_cluster, cluster):
    """The study stays here, trials run on the workers, and the seed fixes the search for any placement."""
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(300, 4)), columns=list("abcd"))
    y = pd.Series((X["a"] - X["b"] + rng.normal(size=300) > 0).astype(int))
    pipe = Pipeline(
        [("features", ColumnTransformer([("num", StandardScaler(), list("abcd"))])), ("model", LogisticRegression())]
    )
    space = {"C": {"low": 1e-4, "high": 10.0, "log": True, "int": False}}

    def search():
        return search_family(
            pipe, X, y, family="logistic_regression", task="classification", method="bayes", n_trials=12,
            space=space, cv=StratifiedKFold(3, shuffle=True, random_state=0), scoring="roc_auc", n_jobs=-1,
            random_state=0,
        )  # fmt: skip

    assert dask_client() is on_cluster
    before = cluster.record()["tasks"]
    remote = search()
    assert cluster.record()["tasks"] >= before + 12  # one future per trial
    from joblib import parallel_config

    with parallel_config(backend="loky"):
        assert dask_client() is None
        local = search()
    columns = ["trial", "C", "mean", "std", "state"]
    pd.testing.assert_frame_equal(remote.trials[columns], local.trials[columns])
    assert remote.best_params == local.best_params and remote.n_fits == local.n_fits


def test_scattered_data_is_kept_on_two_workers(on_cluster):
    [future] = on_cluster.scatter([np.arange(10_000)])
    assert len(on_cluster.who_has(future)[future.key]) == 2


def test_an_unreachable_scheduler_is_one_line_in_under_5_s():
    address = f"tcp://127.0.0.1:{_free_port()}"
    started = time.perf_counter()
    with pytest.raises(ClusterUnavailable, match="no Dask scheduler answers at") as caught, Cluster(address):
        pass
    assert time.perf_counter() - started < 5
    assert caught.value.exit_code == 2 and "\n" not in str(caught.value)
    assert ADDRESS_VARIABLE not in os.environ or os.environ[ADDRESS_VARIABLE] != address


def test_an_existing_scheduler_is_joined_and_left_running(cluster, tmp_path):
    address = cluster.client.scheduler.address
    with Cluster(address, shared_dir=tmp_path) as joined:
        assert joined.local is None and joined.record()["started"] == "existing scheduler"
        assert os.environ[ADDRESS_VARIABLE] == address
    assert cluster.client.scheduler_info()["workers"]  # still up for the one who started it
    assert os.environ[ADDRESS_VARIABLE] == address  # the outer cluster's, restored


def test_leaving_stops_every_worker_process(tmp_path):
    with Cluster(n_workers=1, memory_limit="512MiB", dashboard=False) as c:
        pids = [w["pid"] for w in c.record()["workers"]]
        assert all(psutil.pid_exists(p) for p in pids)
    deadline = time.time() + 10
    while any(psutil.pid_exists(p) for p in pids) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(psutil.pid_exists(p) for p in pids)


def test_addresses():
    assert parse_address("tcp://[::1]:8786") == ("tcp", "::1", 8786)
    for bad in ("tcp://host", "http://host:80", "host:99999", ":8786"):
        with pytest.raises(ValueError, match="not a scheduler address"):
            parse_address(bad)
    with pytest.raises(ValueError, match="tls:// needs certificates"):
        parse_address("tls://scheduler:8786")


@pytest.mark.parametrize(
    "compute, message",
    [
        ({"backend": "spark"}, "compute.backend"),
        ({"backend": "dask", "dask": {"address": "scheduler"}}, "compute.dask.address: "),
        ({"dask": {"memory_limit": "lots"}}, "compute.dask.memory_limit: "),
        ({"dask": {"memory_limit": "10MB"}}, "too little for a worker"),
        ({"dask": {"n_workers": 0}}, "compute.dask.n_workers"),
        ({"dask": {"adress": "tcp://h:1"}}, "did you mean 'address'"),
    ],
)
def test_bad_compute_params_are_refused_in_one_line(tmp_path, compute, message):
    import yaml

    from nblib.factory.params import load_params

    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"data": {"source": "generated", "target": "is_hit"}, "compute": compute}))
    with pytest.raises(ParamsError, match=message.replace("(", r"\(")) as caught:
        load_params(path)
    assert "\n" not in str(caught.value)


def test_compute_changes_no_cache_key():
    """The backend changes where work runs, not its result: a dask run reuses a local run's stages."""
    local = Params.model_validate({"data": {"target": "y"}})
    dask = Params.model_validate({"data": {"target": "y"}, "compute": {"backend": "dask"}})
    from nblib.factory.pipeline import PIPELINE

    for stage in PIPELINE.stages:
        assert local.sections(stage.sections) == dask.sections(stage.sections)


def test_a_notebook_run_by_itself_starts_a_cluster_of_its_own(monkeypatch, capsys):
    """JupyterLab or the plain papermill CLI with backend dask and no run around it: a LocalCluster for the kernel."""
    from joblib import parallel_config

    monkeypatch.delenv(ADDRESS_VARIABLE, raising=False)
    with parallel_config():
        client = connect(None, n_workers=1, threads_per_worker=1, memory_limit="512MiB")
        try:
            assert dask_client() is client
            assert len(client.scheduler_info()["workers"]) == 1
            assert "dask: a LocalCluster for this notebook; dashboard http://127.0.0.1:" in capsys.readouterr().err
        finally:
            client.close()
            client.cluster.close()
