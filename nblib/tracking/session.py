"""The tracking store and the helper process that talks to it.

:func:`settings` says where a run is tracked (the URI, the experiment, the model name). Importing
MLflow and opening a SQLite store takes seconds, so :func:`prestart` starts a helper process
(``python -m nblib.tracking``) that does it on the other core while the stages run; requests go
to it one JSON line each way. Each request names an operation that another module of this
package registered with :func:`serves` (``log``, ``finish``, ``champion_key``; ``open`` is here).
Without a helper the same operations run in this process.

This module also holds what every caller of the store shares: one client per URI
(:func:`_client`), the lock that keeps two runs from creating one SQLite store at once, quiet
loggers, and :class:`TrackingError`, the one-line failure that callers turn into a warning.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from nblib.common.locks import file_lock
from nblib.common.text import one_line, slug

__all__ = [
    "STORE_DIR",
    "TrackingError",
    "settings",
    "shown_uri",
    "prestart",
    "open_store",
    "stop_helper",
    "helper",
    "serves",
]

STORE_DIR = ".mlflow"
_QUIET = ("alembic", "mlflow", "urllib3", "git")
_helper: _Helper | None = None
_clients: dict[str, Any] = {}
#: The runs being logged in this process (run folder → :class:`nblib.tracking.runs.Session`).
_sessions: dict[str, Any] = {}
#: What this process does for each request (:func:`serves`).
_OPS: dict[str, Callable[..., Any]] = {}


class TrackingError(Exception):
    """The tracking store could not be reached or refused a write (one line, said as a warning)."""


# --------------------------------------------------------------------------- where a run is tracked


def settings(params: dict[str, Any], reports_dir: str | Path) -> dict[str, Any]:
    """Where a run is tracked: ``{"enabled", "uri", "experiment", "model_name", "artifact_location",
    "register_model"}`` from the params' ``tracking`` section (a dict, as in ``params.yaml``).

    >>> s = settings({"name": "churn v2", "tracking": {}}, "/r")
    >>> s["uri"], s["model_name"], s["artifact_location"]
    ('sqlite:////r/.mlflow/mlflow.db', 'nblib-churn-v2', 'file:///r/.mlflow/artifacts')
    """
    tracking = dict(params.get("tracking") or {})
    store = Path(reports_dir) / STORE_DIR
    uri = tracking.get("uri") or f"sqlite:///{store / 'mlflow.db'}"
    location = None
    if uri.startswith("sqlite:///"):  # MLflow's default would be ./mlruns under whatever folder the run started in
        location = (Path(uri[len("sqlite:///") :]).parent / "artifacts").resolve().as_uri()
    name = tracking.get("model_name") or "nblib-" + (
        slug(str(params.get("name") or "run"), allowed=r"\w.", sep="-", default="run")
    )
    return {
        "enabled": tracking.get("enabled", True),
        "uri": uri,
        "experiment": tracking.get("experiment") or "nblib",
        "model_name": name,
        "artifact_location": location,
        "register_model": tracking.get("register_model", True),
    }


def shown_uri(uri: str) -> str:
    """The URI without a password.

    >>> shown_uri("http://u:secret@host:5000")
    'http://u:***@host:5000'
    """
    return re.sub(r"//([^/@:]+):[^/@]+@", r"//\1:***@", uri)


# --------------------------------------------------------------------------- the helper process


def prestart(uri: str | None = None) -> None:
    """Start the tracking helper process now, so that importing MLflow (about 3 s with the store)
    happens on the other core while params load and stages run; ``uri`` is opened at once.
    Idempotent; never raises."""
    global _helper
    if _helper is None and os.environ.get("NBLIB_TRACKING_HELPER", "1") != "0":
        import atexit

        try:
            _helper = _Helper(uri)
        except OSError:
            _helper = None
        else:
            atexit.register(stop_helper)


def open_store(uri: str) -> None:
    """Have the helper open (and if need be create: about 2 s) the store now, while the stages run;
    returns at once. Nothing happens without a helper: the store is then opened when logging."""
    if _helper is not None and _helper.alive():
        _helper.send("open", uri=uri)


def stop_helper() -> None:
    """Stop the helper (tracking turned out to be off, or the process ends)."""
    global _helper
    if _helper is not None:
        _helper.close()
        _helper = None


def helper() -> _Helper | None:
    """The helper process :func:`prestart` started (alive or not), or None."""
    return _helper


def serves(op: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as what this process does for the request ``op``; it is
    called with the request's other keys as keyword arguments, and its result is the reply."""

    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        _OPS[op] = handler
        return handler

    return register


def _handle(request: dict[str, Any]) -> Any:
    """One request, in whichever process holds the sessions."""
    op = request["op"]
    if op not in _OPS:
        raise ValueError(f"unknown request {op!r}")
    return _OPS[op](**{key: value for key, value in request.items() if key != "op"})


@serves("open")
def _open(uri: str) -> None:
    _client(uri)


class _Helper:
    """``python -m nblib.tracking``: a process that imports MLflow at once, then serves requests,
    one JSON line each way (its own stdout is sent to stderr so MLflow's prints cannot mix in)."""

    def __init__(self, uri: str | None = None):
        import subprocess
        import sys

        self.unread = 0
        self.proc = subprocess.Popen(  # its own session: Ctrl-C stops the run, not its logging
            [sys.executable, "-m", "nblib.tracking", *([uri] if uri else [])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, op: str, **kwargs: Any) -> None:
        """A request whose reply is not waited for (read and dropped before the next call's)."""
        try:
            self.proc.stdin.write(json.dumps({"op": op, **kwargs}, default=str) + "\n")
            self.proc.stdin.flush()
            self.unread += 1
        except (OSError, ValueError):
            pass

    def call(self, op: str, **kwargs: Any) -> Any:
        try:
            self.proc.stdin.write(json.dumps({"op": op, **kwargs}, default=str) + "\n")
            self.proc.stdin.flush()
            for _ in range(self.unread):  # replies to send(): an error there shows again where it matters
                self.proc.stdout.readline()
            self.unread = 0
            line = self.proc.stdout.readline()
        except (OSError, ValueError) as exc:
            raise TrackingError(f"the tracking process is gone ({_one_line(exc)})") from None
        if not line:
            raise TrackingError(f"the tracking process stopped (exit code {self.proc.wait()})")
        reply = json.loads(line)
        if "error" in reply:
            raise TrackingError(reply["error"])
        return reply.get("result")

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.proc.stdin.close()
        with contextlib.suppress(OSError):
            self.proc.kill()  # it holds nothing once its sessions finished; don't wait for its imports


def _serve() -> None:
    """The helper's loop (see :class:`_Helper`); the package's modules registered its operations."""
    import signal
    import sys

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run it serves decides when it ends (EOF on stdin)
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _quiet()
    with contextlib.suppress(Exception):
        import mlflow.pyfunc  # noqa: F401

        if len(sys.argv) > 1 and Path(sys.argv[1][len("sqlite:///") :]).is_file():
            _client(sys.argv[1])  # the store a run uses by default, opened before it is asked for (never made)
        import select
        import threading

        from mlflow.utils import requirements_utils

        # MLflow maps every installed package to its modules (about 1 s) to check a logged model's
        # requirements: done beside the stages, off the run's critical path, unless the run is asking
        # already (all stages cached: its model is logged already, too)
        if not select.select([sys.stdin], [], [], 1.0)[0]:
            threading.Thread(target=requirements_utils._init_packages_to_modules_map, daemon=True).start()
    for line in sys.stdin:
        try:
            reply = {"result": _handle(json.loads(line))}
        except TrackingError as exc:
            reply = {"error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - the main process turns it into a warning
            reply = {"error": f"{type(exc).__name__}: {_one_line(exc)}"}
        channel.write(json.dumps(reply, default=str) + "\n")
        channel.flush()


# --------------------------------------------------------------------------- reaching the store


def _client(uri: str):
    """An MLflow client of ``uri`` that has reached the store (a bad URI fails here, in one place)."""
    if uri in _clients:
        return _clients[uri]
    _quiet()
    with warnings.catch_warnings():  # e.g. tqdm's "IProgress not found" when imported in a kernel
        warnings.simplefilter("ignore")
        from mlflow import MlflowClient

    _quiet()  # again: importing MLflow sets its own logger's level
    with _store_lock(uri):  # two runs of a sweep creating one new SQLite store would race its migrations
        made = MlflowClient(tracking_uri=uri, registry_uri=uri)
        made.search_experiments(max_results=1)
    _clients[uri] = made
    return made


@contextlib.contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    """An exclusive lock beside a SQLite store while it is opened (and perhaps created). A read-only
    store can still be read (who is champion): then it goes on unlocked."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    with file_lock(Path(uri[len("sqlite:///") :]).parent / ".nblib-open.lock"):
        yield


@contextlib.contextmanager
def _fluent(uri: str) -> Iterator[None]:
    """MLflow's module-level tracking and registry URIs set to ``uri`` for a moment, then restored."""
    import mlflow

    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])


@contextlib.contextmanager
def _guard(what: str) -> Iterator[None]:
    """Any failure of the store inside becomes a one-line :class:`TrackingError` ("cannot WHAT: …")."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    except TrackingError:
        raise
    except Exception as exc:  # noqa: BLE001 - any store failure becomes one line
        raise TrackingError(f"cannot {what}: {_one_line(exc)}") from exc


def _quiet() -> None:
    """MLflow's and alembic's INFO lines and retries stay out of the terminal; an unreachable
    server fails in seconds, not after minutes of retries (unless the user set these)."""
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # a run sends nothing anywhere
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _one_line(exc: BaseException) -> str:
    """One line, at most 300 characters: the start and the end (where 'Connection refused' is)."""
    return one_line(exc, 300)
