"""A Dask cluster for the length of one run, and the client a stage's kernel opens on it.

:class:`Cluster` is entered by whoever starts a run (before anything is made or run):

* with an ``address`` it connects to an existing scheduler; one that does not answer is
  :class:`ClusterUnavailable` (exit 2, one line) within ``connect_timeout_s``;
* without one it starts a ``distributed.LocalCluster`` of worker *processes*, once for the run.

Either way every worker must see the shared folder (the reports folder): a probe file the
run writes must be readable on each worker, and a file each worker writes must be readable
here. Inside the ``with`` block the scheduler's address is in ``DASK_SCHEDULER_ADDRESS``, the
variable Dask's own configuration reads, so every kernel the run starts finds the cluster; on
the way out (normal end, an error, Ctrl-C or SIGTERM raised as an exception) the client is
closed and a cluster this module started is shut down with its worker processes.

:func:`connect` is what a stage calls: it returns a client on the run's cluster (or on a
``LocalCluster`` of its own when a notebook runs by itself) and makes it joblib's backend, so
scikit-learn's ``n_jobs`` work (CV folds, search candidates, ensembles, permutation
importance) runs as tasks on the workers.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import uuid
from pathlib import Path
from typing import Any

from nblib.engine.errors import NblibError

__all__ = ["ADDRESS_VARIABLE", "Cluster", "ClusterUnavailable", "connect", "parse_address", "worker_tasks"]

#: Where the run leaves its scheduler's address for the kernels (Dask's own configuration variable).
ADDRESS_VARIABLE = "DASK_SCHEDULER_ADDRESS"


class ClusterUnavailable(NblibError):
    """The Dask scheduler cannot be reached, or its workers cannot see the shared folder."""

    exit_code = 2


def parse_address(address: str) -> tuple[str, str, int]:
    """``tcp://host:port`` (or ``host:port``) as ``(protocol, host, port)``.

    >>> parse_address("tcp://10.0.0.5:8786")
    ('tcp', '10.0.0.5', 8786)
    >>> parse_address("scheduler:8786")
    ('tcp', 'scheduler', 8786)

    TLS needs certificates (Dask's ``security`` settings), which nblib does not pass yet: refused.
    """
    protocol, _, rest = address.rpartition("://")
    protocol = protocol or "tcp"
    host, sep, port = rest.rpartition(":")
    if protocol == "tls":
        raise ValueError(f"{address!r}: tls:// needs certificates, which nblib does not pass yet; use tcp://HOST:PORT")
    if protocol != "tcp" or not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"not a scheduler address: {address!r} (expected tcp://HOST:PORT)")
    return protocol, host.strip("[]"), int(port)


class Cluster:
    """Start or join a Dask cluster for one run (a context manager).

    Parameters
    ----------
    address : str or None
        An existing scheduler (``tcp://host:8786``); ``None`` starts a ``LocalCluster``.
    n_workers, threads_per_worker : int
        The ``LocalCluster``'s worker processes and threads in each.
    memory_limit : str
        Per worker (``"2GB"``, ``"auto"``), for the ``LocalCluster``.
    shared_dir : Path or None
        A folder every worker must be able to read and write (probed on entry).
    dashboard : bool
        Serve the ``LocalCluster``'s dashboard on a free local port.
    connect_timeout_s : float
        How long an ``address`` may take to answer.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        n_workers: int = 2,
        threads_per_worker: int = 1,
        memory_limit: str = "auto",
        shared_dir: Path | None = None,
        dashboard: bool = True,
        connect_timeout_s: float = 4.0,
        label: str = "compute.dask.address",
    ):
        self.address = address
        self.n_workers = n_workers
        self.threads_per_worker = threads_per_worker
        self.memory_limit = memory_limit
        self.shared_dir = shared_dir
        self.dashboard = dashboard
        self.connect_timeout_s = connect_timeout_s
        self.label = label  # what an error names: the params key, or the command-line option
        self.client: Any = None
        self.local: Any = None
        self._baseline: dict[str, int] = {}
        self._pids: dict[str, int] = {}
        self._saved_env: str | None = None
        self._last: dict[str, Any] | None = None

    def __enter__(self) -> Cluster:
        try:
            self._open()
        except BaseException:
            self._close()
            raise
        self._saved_env = os.environ.get(ADDRESS_VARIABLE)
        os.environ[ADDRESS_VARIABLE] = self.client.scheduler.address
        return self

    def lost(self) -> bool:
        """Whether the scheduler stopped answering (the whole cluster was lost; a LocalCluster never is
        while the run is alive).

        >>> Cluster("tcp://127.0.0.1:9").lost()
        True
        """
        address = self.address or (self.client.scheduler.address if self.client is not None else None)
        if address is None:
            return False
        try:
            _reachable(address, self.connect_timeout_s, self.label)
        except ClusterUnavailable:
            return True
        return False

    def __exit__(self, *exc: Any) -> bool:
        try:
            self.record()  # the workers' task counts, read while they are still up
        finally:
            if self._saved_env is None:
                os.environ.pop(ADDRESS_VARIABLE, None)
            else:
                os.environ[ADDRESS_VARIABLE] = self._saved_env
            self._close()
        return False

    def _open(self) -> None:
        import logging

        from distributed import Client, LocalCluster

        if self.address:
            _reachable(self.address, self.connect_timeout_s, self.label)
            try:
                self.client = Client(self.address, timeout=f"{self.connect_timeout_s}s", set_as_default=False)
            except Exception as exc:  # noqa: BLE001 -- whatever the comm layer raises is one line, exit 2
                raise ClusterUnavailable(
                    f"{self.label}: the Dask scheduler at {self.address} did not answer "
                    f"within {self.connect_timeout_s:g} s ({type(exc).__name__})"
                ) from None
            if not self.client.scheduler_info().get("workers"):
                raise ClusterUnavailable(f"{self.label}: the Dask scheduler at {self.address} has no workers")
        else:
            self.local = LocalCluster(
                n_workers=self.n_workers,
                threads_per_worker=self.threads_per_worker,
                memory_limit=self.memory_limit,
                processes=True,
                dashboard_address="127.0.0.1:0",
                scheduler_kwargs={"dashboard": self.dashboard},
                host="127.0.0.1",
                silence_logs=logging.ERROR,
            )
            self.client = Client(self.local, set_as_default=False)
        if self.shared_dir is not None:
            self._probe(Path(self.shared_dir))
        self._baseline = worker_tasks(self.client)
        self._pids = self.client.run(os.getpid)

    def _probe(self, folder: Path) -> None:
        """Each worker reads a file written here and writes one that is read back here."""
        folder.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex
        mine = folder / f".nblib-probe-{token}"
        mine.write_text(token)
        try:
            answers = self.client.run(_probe_on_worker, str(mine), token)
            bad = {w: why for w, why in answers.items() if why}
            for worker in answers:
                theirs = mine.with_name(mine.name + "-" + _slug(worker))
                if worker not in bad and (not theirs.exists() or theirs.read_text() != token):
                    bad[worker] = "its file did not appear here"
        finally:
            for path in folder.glob(f".nblib-probe-{token}*"):
                path.unlink(missing_ok=True)
        if bad:
            worker, why = next(iter(sorted(bad.items())))
            raise ClusterUnavailable(
                f"compute.dask: worker {worker} cannot use the reports folder {folder} ({why}); "
                f"workers must share it (a network file system mounted at the same path)"
            )

    def record(self) -> dict[str, Any]:
        """What the manifest keeps: backend, address, dashboard, each worker and the tasks it ran here."""
        if self.client is None or self.client.status != "running":
            return self._last or {}
        try:
            counts = worker_tasks(self.client)
            self._pids.update(self.client.run(os.getpid))  # a worker restarted by its nanny has a new one
            info = self.client.scheduler_info()
        except Exception:  # noqa: BLE001 -- a cluster going away: the last record stands
            return self._last or {}
        workers = []
        for address, worker in sorted(info.get("workers", {}).items()):
            workers.append(
                {
                    "address": address,
                    "name": str(worker.get("name", "")),
                    "threads": worker.get("nthreads"),
                    "memory_limit": worker.get("memory_limit"),
                    "pid": self._pids.get(address),
                    "tasks": counts.get(address, 0) - self._baseline.get(address, 0),
                }
            )
        self._last = {
            "backend": "dask",
            "address": self.client.scheduler.address,
            "started": "LocalCluster" if self.local is not None else "existing scheduler",
            "dashboard": self.dashboard_link,
            "workers": workers,
            "tasks": sum(w["tasks"] for w in workers),
        }
        return self._last

    @property
    def dashboard_link(self) -> str | None:
        if self.client is None:
            return None
        if self.local is not None and not self.dashboard:
            return None
        with contextlib.suppress(Exception):
            return self.client.dashboard_link or None
        return None

    def describe(self) -> str:
        """One line for the terminal."""
        info = self.client.scheduler_info()
        workers = info.get("workers", {})
        threads = sum(w.get("nthreads", 0) for w in workers.values())
        where = "LocalCluster" if self.local is not None else f"scheduler {self.client.scheduler.address}"
        line = f"dask: {where}, {len(workers)} worker(s), {threads} thread(s)"
        link = self.dashboard_link
        return line + (f"; dashboard {link}" if link else "")

    def _close(self) -> None:
        with contextlib.suppress(Exception):
            if self.client is not None:
                self.client.close(timeout=10)
        with contextlib.suppress(Exception):
            if self.local is not None:
                self.local.close(timeout=20)
        self.client = None
        self.local = None


def worker_tasks(client: Any) -> dict[str, int]:
    """Tasks each worker has run since it started (its state machine's own count)."""
    return client.run(_executed_count)


def connect(address: str | None = None, **local: Any) -> Any:
    """A client on the run's scheduler, made joblib's backend for this process.

    ``address`` defaults to ``DASK_SCHEDULER_ADDRESS`` (set by the run); without either, a
    ``LocalCluster`` of this process's own is started with ``local``'s settings (a notebook
    run by itself in JupyterLab or by the plain ``papermill`` CLI) and closed at exit.
    """
    import atexit

    from distributed import Client, LocalCluster
    from joblib import parallel_config, register_parallel_backend

    address = address or os.environ.get(ADDRESS_VARIABLE) or None
    Client = _resilient(Client)  # noqa: N806 -- the class, with scattered data kept on two workers
    if address:
        try:
            client = Client(address, timeout="10s")
        except Exception as exc:  # noqa: BLE001 -- whatever the comm layer raises
            raise ClusterUnavailable(
                f"compute.dask: the run's Dask scheduler at {address} did not answer ({type(exc).__name__})"
            ) from None
    else:
        import logging

        cluster = LocalCluster(
            processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR, **local
        )
        client = Client(cluster)
        atexit.register(cluster.close)
        print(f"dask: a LocalCluster for this notebook; dashboard {client.dashboard_link}", file=sys.stderr)
    atexit.register(client.close)
    register_parallel_backend(BACKEND, _backend_class())
    parallel_config(backend=BACKEND, n_jobs=1)  # called, not entered: joblib's backend for the rest of this kernel
    return client


#: joblib's name for :func:`_backend_class`'s backend.
BACKEND = "nblib-dask"


def _backend_class() -> type:
    """joblib's Dask backend, except that ``n_jobs`` 1 or unset stays sequential in this process.

    joblib's own Dask backend sends every ``Parallel`` call to the cluster whatever its ``n_jobs``,
    and a task's own ``Parallel`` calls back to the cluster too; then each ``predict`` of a
    ``ColumnTransformer`` or ``FeatureUnion`` (``n_jobs=None``) would ship its transformers and
    rows to the workers as tasks of a few milliseconds (smoke's partial dependence: 3 s
    locally, 26 s so; its permutation importance 3 s and 13 s). A call that asks for parallel
    work (CV folds, search candidates, permutation importance, bootstrap chunks: ``n_jobs`` -1
    or above 1) gets all the cluster's threads; inside its tasks, work runs sequentially.
    """
    from joblib._dask import DaskDistributedBackend
    from joblib._parallel_backends import SequentialBackend

    class SequentialUnlessAsked(DaskDistributedBackend):
        def effective_n_jobs(self, n_jobs):
            return 1 if n_jobs in (None, 1) else super().effective_n_jobs(n_jobs)

        def get_nested_backend(self):
            return SequentialBackend(nesting_level=1), None

        def submit(self, func, callback=None):
            # joblib runs each batch on the worker under parallel_config(backend="dask"), which would send a
            # task's own Parallel calls back to the cluster: each call runs sequentially inside its task instead
            func.items = [(InTask(f), args, kwargs) for f, args, kwargs in func.items]
            return super().submit(func, callback)

    return SequentialUnlessAsked


class InTask:
    """``func``, whose own joblib ``Parallel`` calls run sequentially inside the task that calls it."""

    def __init__(self, func: Any):
        from dask.utils import funcname

        self.func = func
        self.__name__ = funcname(func)  # the task's name on the dashboard

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from joblib import parallel_config

        with parallel_config(backend="sequential"):
            return self.func(*args, **kwargs)


#: Workers that hold a copy of each object scattered to the cluster: one can die without losing it.
REPLICAS = 2
#: Times a scatter is tried when a worker's connection closes under it, and how long one try may take.
SCATTER_TRIES = 4
SCATTER_TIMEOUT_S = 120.0


def _resilient(client_class: type) -> type:
    """``client_class`` whose ``scatter`` keeps each object on :data:`REPLICAS` workers.

    joblib's Dask backend scatters a large argument (the training frame) to one worker; if that
    worker died, every task that needs it would fail instead of being retried elsewhere.
    """

    import asyncio

    from distributed.comm import CommClosedError

    class ResilientClient(client_class):
        def scatter(self, data, workers=None, broadcast=REPLICAS, **kwargs):
            return super().scatter(data, workers=workers, broadcast=broadcast, **kwargs)

        async def _scatter(self, data, *args, **kwargs):
            # a worker that dies while data is sent to it fails the scatter, or leaves the scheduler's copy to
            # it waiting for good (seen once in 35 minutes): give up on that try after SCATTER_TIMEOUT_S and
            # send again once the scheduler has let the worker go (whatever reached the others is released)
            for attempt in range(SCATTER_TRIES):
                try:
                    return await asyncio.wait_for(super()._scatter(data, *args, **kwargs), SCATTER_TIMEOUT_S)
                except (CommClosedError, OSError, asyncio.TimeoutError):
                    if attempt == SCATTER_TRIES - 1:
                        raise
                    await asyncio.sleep(1.0 + attempt)

    return ResilientClient


def _reachable(address: str, timeout: float, label: str) -> None:
    """Fail fast, in one line, when nothing listens at ``address``."""
    try:
        _, host, port = parse_address(address)
    except ValueError as exc:
        raise ClusterUnavailable(f"{label}: {exc}") from None
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ClusterUnavailable(
            f"{label}: no Dask scheduler answers at {address} ({reason}); "
            f"start one (dask scheduler) or leave the address empty for a LocalCluster"
        ) from None


def _probe_on_worker(path: str, token: str, dask_worker: Any = None) -> str:
    """On a worker: read the run's probe file and write one back beside it ("" when both worked)."""
    try:
        if Path(path).read_text() != token:
            return "the probe file holds other bytes"
        Path(path + "-" + _slug(dask_worker.address)).write_text(token)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return ""


def _executed_count(dask_worker: Any = None) -> int:
    return int(dask_worker.state.executed_count)


def _slug(address: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in address)
