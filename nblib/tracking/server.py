"""``nblib serve``: a registered model answering HTTP on MLflow's scoring protocol.

The model is resolved once, at start: ``models:/NAME@champion`` names one version then, and a new
champion is served from the next start on. Its files are fetched into a temporary folder and loaded as
the pyfunc MLflow loads (:mod:`nblib.tracking.serving`, which scores raw rows like ``nblib predict``);
a small ASGI app (Starlette, run by uvicorn) answers:

- ``GET /ping`` and ``GET /health``: 200 once the model is loaded, as MLflow's scoring server;
- ``GET /version``: MLflow's version, as MLflow's server; ``GET /metadata``: which model version is served;
- ``POST /invocations``: rows as JSON (``application/json`` holding ``dataframe_split``,
  ``dataframe_records``, ``instances`` or ``inputs``), CSV (``text/csv``) or Parquet
  (``application/vnd.apache.parquet``), answered with ``{"predictions": [one object per row]}``: the
  columns sent plus ``proba`` (two classes) or ``proba_<class>``, and ``prediction`` in the user's labels,
  as ``nblib predict`` writes them. A missing value is ``null`` (never ``NaN``, which is not JSON).

A request the model cannot score gets a 4xx and one line, in MLflow's error shape without its stack
trace (``{"error_code": ..., "message": ...}``): 400 for a body that is not JSON or CSV, missing
columns, a cell that cannot be read as its column's number or date (named by column and row, rows
counted from 1, as ``nblib predict`` names them), a cell that is a list or an object, no rows; 413 for a
body over ``--max-body-mb``; 415 for another content type or charset. What is not the request's fault is
a 500, also one line (the traceback goes to the server's log). Rows are read and scored off the event
loop (in Starlette's thread pool), so ``/ping`` answers while a large request is scored.

MLflow's own scoring server (``mlflow models serve --env-manager local``) speaks the same protocol, but
turns every error the model raises into a generic message with the Python traceback in the body, echoes
a malformed body back in its message, writes ``NaN`` into the JSON, and its fixes would reach only models
logged after them (a model from code carries its ``serving.py``); this app holds those lines for every
registered version.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import socket
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nblib.common.text import one_line, suggest
from nblib.engine.errors import ParamsError
from nblib.tracking.registry import CHAMPION
from nblib.tracking.session import _client, _fluent, _quiet, shown_uri

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_MAX_BODY_MB",
    "ServeError",
    "RequestError",
    "Served",
    "resolve",
    "from_run",
    "load",
    "make_app",
    "read_rows",
    "predictions_json",
    "serve",
]

DEFAULT_PORT = 5001
#: The largest request body read, in MB (2**20 bytes): ``--max-body-mb``.
DEFAULT_MAX_BODY_MB = 100
#: JSON keys MLflow's scoring protocol accepts for rows (exactly one per request).
JSON_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
CONTENT_TYPES = ("application/json", "text/csv", "application/vnd.apache.parquet")
_log = logging.getLogger("nblib.serve")
#: How the worker processes of ``--workers N`` find the model the parent fetched.
_ENV_DIR, _ENV_SERVED, _ENV_MAX_BODY = "NBLIB_SERVE_MODEL_DIR", "NBLIB_SERVE_SERVED", "NBLIB_SERVE_MAX_BODY_MB"


class ServeError(ParamsError):
    """The model cannot be found, fetched or loaded, or the address cannot be bound: one line, exit 2."""


class RequestError(ValueError):
    """A request the model cannot score: ``status`` (4xx), MLflow's ``error_code`` and a one-line message."""

    def __init__(self, message: str, status: int = 400, error_code: str = "BAD_REQUEST"):
        super().__init__(one_line(message, 600))
        self.status, self.error_code = status, error_code


@dataclass(frozen=True)
class Served:
    """The model version a server answers with, as resolved at its start.

    Attributes
    ----------
    uri : str
        What is fetched: ``models:/NAME/VERSION`` (an alias resolved to its version) or ``runs:/ID/PATH``.
    store : str
        The tracking (and registry) URI.
    name, version, alias : str, int, str
        The registered model, its version and the alias asked for (``None`` when not asked by alias).
    run_id, nblib_run : str
        The MLflow run that logged the model and the nblib run it came from (when known).
    """

    uri: str
    store: str
    name: str | None = None
    version: int | None = None
    alias: str | None = None
    run_id: str | None = None
    nblib_run: str | None = None

    def describe(self) -> str:
        """One line: which version, from which run and store.

        >>> Served("models:/nblib-x/3", "sqlite:////r/db", "nblib-x", 3, "champion", "ab12", "r1").describe()
        'nblib-x version 3 (@champion; nblib run r1; MLflow run ab12) from sqlite:////r/db'
        """
        what = f"{self.name} version {self.version}" if self.name else self.uri
        notes = [f"@{self.alias}"] if self.alias else []
        notes += [f"nblib run {self.nblib_run}"] if self.nblib_run else []
        notes += [f"MLflow run {self.run_id}"] if self.run_id else []
        return what + (f" ({'; '.join(notes)})" if notes else "") + f" from {shown_uri(self.store)}"


# --------------------------------------------------------------------------- which model


def resolve(model_uri: str | None, *, store: str, name: str | None = None) -> Served:
    """The model version to serve, looked up in ``store`` now.

    ``model_uri`` is ``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``runs:/RUN_ID/PATH`` or a bare
    registered ``NAME`` (its ``@champion``); ``None`` means ``models:/<name>@champion``, or, without
    ``name``, the only model registered in ``store``. Raises :class:`ServeError` (one line) when the
    store cannot be reached or holds no such model, version or alias.
    """
    if model_uri is not None and ":" not in model_uri:
        model_uri = f"models:/{model_uri}@{CHAMPION}"
    client = _open(store)
    if model_uri is None:
        model_uri = f"models:/{name or _only_model(client, store)}@{CHAMPION}"
    if model_uri.startswith("runs:/"):
        return _run_model(client, model_uri, store)
    if not model_uri.startswith("models:/"):
        raise ServeError(
            f"{model_uri}: not a model to serve; give models:/NAME@ALIAS, models:/NAME/VERSION, "
            f"runs:/RUN_ID/model, a run folder or a registered model's name"
        )
    name, alias, version = _models_uri(model_uri)
    from mlflow.exceptions import MlflowException

    try:
        found = client.get_model_version_by_alias(name, alias) if alias else client.get_model_version(name, version)
    except MlflowException:
        raise ServeError(_not_found(client, store, name, alias, version)) from None
    except Exception as exc:  # noqa: BLE001 - the store went away between two calls
        raise ServeError(f"the tracking store {shown_uri(store)} cannot be read: {one_line(exc, first=True)}") from None
    return Served(
        uri=f"models:/{name}/{found.version}",
        store=store,
        name=name,
        version=int(found.version),
        alias=alias,
        run_id=found.run_id,
        nblib_run=(found.tags or {}).get("nblib.run_id") or None,
    )


def from_run(run_dir: str | Path, manifest: dict[str, Any]) -> Served:
    """The version a run registered (its manifest's ``tracking.model``), in the store it was logged to."""
    tracked = manifest.get("tracking") or {}
    model = tracked.get("model") or {}
    if not model.get("uri") or not tracked.get("uri"):
        why = tracked.get("error") or tracked.get("warning") or "tracking was off, or the run did not succeed"
        raise ServeError(
            f"{run_dir}: this run registered no model ({one_line(why, 200)}); serve a registered model "
            f"(models:/NAME@champion) or score the run's model with nblib predict"
        )
    return resolve(model["uri"], store=tracked["uri"])


def _open(store: str):
    """An MLflow client that has reached ``store``; a SQLite store that does not exist is not made here."""
    if store.startswith("sqlite:///") and not Path(store[len("sqlite:///") :]).is_file():
        raise ServeError(
            f"no tracking store at {store[len('sqlite:///') :]}: nothing was tracked there yet "
            f"(run nblib run PARAMS.yaml first, or set NBLIB_REPORTS or --tracking-uri)"
        )
    try:
        return _client(store)  # quiet: a store that does not answer fails in seconds, not minutes of retries
    except Exception as exc:  # noqa: BLE001 - any failure to reach it is one line at start
        raise ServeError(
            f"the tracking store {shown_uri(store)} cannot be reached: {one_line(exc, first=True)}"
        ) from None


def _only_model(client, store: str) -> str:
    names = sorted(m.name for m in client.search_registered_models(max_results=100))
    if len(names) == 1:
        return names[0]
    if not names:
        raise ServeError(f"no model is registered in {shown_uri(store)}; run nblib run PARAMS.yaml (tracking on) first")
    shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
    raise ServeError(
        f"{len(names)} models are registered in {shown_uri(store)} ({shown}); name one: "
        f"nblib serve models:/NAME@champion, or nblib serve --params PARAMS.yaml"
    )


def _models_uri(uri: str) -> tuple[str, str | None, str | None]:
    """``(name, alias, version)`` of ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``.

    >>> _models_uri("models:/nblib-x@champion"), _models_uri("models:/nblib-x/4")
    (('nblib-x', 'champion', None), ('nblib-x', None, '4'))
    """
    rest = uri[len("models:/") :].strip("/")
    if "@" in rest:
        name, _, alias = rest.rpartition("@")
        if name and alias and "/" not in alias:
            return name, alias, None
    else:
        name, _, version = rest.rpartition("/")
        if name and version.isdigit():
            return name, None, version
        if rest and "/" not in rest:
            return rest, CHAMPION, None  # models:/NAME: the champion, as a bare name
    raise ServeError(f"{uri}: not a model URI; give models:/NAME@ALIAS or models:/NAME/VERSION")


def _not_found(client, store: str, name: str, alias: str | None, version: str | None) -> str:
    from mlflow.exceptions import MlflowException

    where = shown_uri(store)
    try:
        client.get_registered_model(name)
    except MlflowException:
        known = [m.name for m in client.search_registered_models(max_results=100)]
        listed = f"; registered: {', '.join(sorted(known)[:6])}" if known else "; none is registered there"
        return f"no registered model {name!r} in {where}{suggest(name, known)}{listed}"
    versions = (
        sorted(int(v.version) for v in client.search_model_versions(f"name = '{name}'")) if "'" not in name else []
    )
    listed = ", ".join(map(str, versions[-8:])) or "none"
    if alias:
        return (
            f"{name} has no @{alias} version in {where} (versions: {listed}); serve one by number, "
            f"models:/{name}/VERSION, or promote one"
        )
    return f"{name} has no version {version} in {where} (versions: {listed})"


def _run_model(client, uri: str, store: str) -> Served:
    run_id = uri[len("runs:/") :].split("/", 1)[0]
    try:
        run = client.get_run(run_id)
    except Exception:  # noqa: BLE001 - MLflow says "Run ... not found" with its own codes
        raise ServeError(f"{uri}: no run {run_id!r} in {shown_uri(store)}") from None
    return Served(uri=uri, store=store, run_id=run_id, nblib_run=run.data.tags.get("nblib.run_id") or None)


# --------------------------------------------------------------------------- loading it


def fetch(served: Served, into: str | Path) -> Path:
    """The model's files, downloaded from the store into the folder ``into``."""
    _quiet()  # no progress bar
    import mlflow

    try:
        with _fluent(served.store):
            return Path(mlflow.artifacts.download_artifacts(artifact_uri=served.uri, dst_path=str(into)))
    except Exception as exc:  # noqa: BLE001 - a missing artifact store, a file gone: one line at start
        raise ServeError(f"{served.uri}: its files cannot be fetched: {one_line(exc, 300, first=True)}") from None


def load(path: str | Path):
    """The pyfunc model in the folder ``path`` (see :mod:`nblib.tracking.serving`)."""
    import warnings

    _quiet()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow.pyfunc

        try:
            return mlflow.pyfunc.load_model(str(path))
        except Exception as exc:  # noqa: BLE001 - untrusted types in the file, a package missing ...
            raise ServeError(f"{path}: the model cannot be loaded: {one_line(exc, 300, first=True)}") from None


# --------------------------------------------------------------------------- the HTTP app


def make_app(model, served: Served, *, max_body_mb: float = DEFAULT_MAX_BODY_MB):
    """The ASGI app answering for ``model`` (a loaded pyfunc, or anything with ``predict(frame)``); a
    request body over ``max_body_mb`` MB (2**20 bytes) is refused with 413, and never held in memory."""
    from importlib.metadata import version

    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response
    from starlette.routing import Route

    mlflow_version = version("mlflow")
    about = json.dumps({**asdict(served), "store": shown_uri(served.store), "mlflow": mlflow_version}).encode()

    async def ping(request):
        return Response("\n", media_type="application/json")

    async def version_(request):
        return Response(mlflow_version, media_type="application/json")

    async def metadata(request):
        return Response(about, media_type="application/json")

    limit = int(max_body_mb * 2**20)

    def too_large() -> RequestError:  # a new one each time: a raised exception keeps its traceback
        return RequestError(
            f"the body is larger than {max_body_mb:g} MB (the server's --max-body-mb): send fewer rows per request",
            413,
            "RESOURCE_LIMIT_EXCEEDED",
        )

    def answer(body: bytes, content_type: str | None) -> bytes:
        return predictions_json(score(model, read_rows(body, content_type)))

    async def invocations(request):
        try:
            body = await _body(request, limit, too_large)
            # parsing and scoring in the thread pool: the event loop goes on answering /ping meanwhile
            answer_ = await run_in_threadpool(answer, body, request.headers.get("content-type"))
        except RequestError as exc:
            return _error(exc.status, exc.error_code, str(exc))
        except Exception as exc:  # noqa: BLE001 - not the request's fault: one line out, the traceback logged
            _log.exception("scoring failed")
            return _error(500, "INTERNAL_ERROR", f"the model failed: {one_line(exc, 300, first=True, typed=True)}")
        return Response(answer_, media_type="application/json")

    return Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/health", ping, methods=["GET"]),
            Route("/version", version_, methods=["GET"]),
            Route("/metadata", metadata, methods=["GET"]),
            Route("/invocations", invocations, methods=["POST"]),
        ]
    )


def read_rows(body: bytes, content_type: str | None):
    """The request's rows as a DataFrame, or :class:`RequestError` saying in one line what is wrong.

    >>> read_rows(b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1, "x"]]}}', "application/json")
       a  b
    0  1  x
    >>> read_rows(b"a,b\\n1,x\\n", "text/csv; charset=utf-8").shape
    (1, 2)
    >>> read_rows(b'{"dataframe_records": [{"a": 1}, {"a": [2]}]}', "application/json")
    Traceback (most recent call last):
    nblib.tracking.server.RequestError: column 'a', row 2: a list, where a cell holds a number, text, true/false or null

    Anything else raised while reading the body is the body's fault too: a :class:`RequestError` (400).
    """
    try:
        return _rows(body, content_type)
    except RequestError:
        raise
    except Exception as exc:  # noqa: BLE001 - pandas or pyarrow choking on what was sent: the request's fault
        _log.warning("a request's body could not be read: %s", one_line(exc, first=True, typed=True))
        raise RequestError(
            f"the body cannot be read: {one_line(exc, 300, first=True, typed=True)}", 400, "MALFORMED_REQUEST"
        ) from None


def _rows(body: bytes, content_type: str | None):
    mime, _, rest = (content_type or "").partition(";")
    mime = mime.strip().lower()
    charset = "utf-8"  # the only parameter read; others (header=present, format=pandas-split) are ignored
    for parameter in rest.split(";"):
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    if mime not in CONTENT_TYPES:
        raise RequestError(
            f"content type {content_type or '(none)'!r}: send {', '.join(CONTENT_TYPES[:-1])} or {CONTENT_TYPES[-1]}",
            415,
        )
    if charset not in ("utf-8", "utf8"):
        raise RequestError(f"charset {charset!r}: only UTF-8 is read", 415)
    if mime == "application/vnd.apache.parquet":
        import pandas as pd

        try:
            frame = pd.read_parquet(io.BytesIO(body))
        except Exception as exc:  # noqa: BLE001 - pyarrow's many errors for a body that is not Parquet
            raise RequestError(
                f"the body is not a Parquet file: {one_line(exc, 200, first=True)}", 400, "MALFORMED_REQUEST"
            ) from None
        return _checked(frame)  # outside the try: its own message stays its own
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(f"the body is not UTF-8 text (byte {exc.start})", 400, "MALFORMED_REQUEST") from None
    return _csv_rows(text) if mime == "text/csv" else _json_rows(text)


def score(model, frame):
    """``model.predict(frame)``, its complaints about the rows turned into :class:`RequestError`."""
    from nblib.ml.predict import BadRows

    if len(frame) == 0:
        raise RequestError("no rows to score: the request holds none")
    try:
        return model.predict(frame)
    except BadRows as exc:
        raise RequestError(exc.reason or str(exc), 400, "INVALID_PARAMETER_VALUE") from None
    except KeyError as exc:  # nblib's "missing columns the model needs: ..." (a KeyError's str is a repr)
        raise RequestError(str(exc.args[0]) if exc.args else one_line(exc), 400, "INVALID_PARAMETER_VALUE") from None
    except (ValueError, TypeError) as exc:  # a value the pipeline cannot take
        _log.warning("a request's rows were refused: %s", one_line(exc, first=True, typed=True))
        raise RequestError(
            f"the rows cannot be scored: {one_line(exc, 300, first=True)}", 400, "INVALID_PARAMETER_VALUE"
        ) from None


def predictions_json(scored) -> bytes:
    """``{"predictions": [...]}``: one object per row, as MLflow's server writes a DataFrame, with
    ``null`` for a missing or infinite value.

    >>> import pandas as pd
    >>> predictions_json(pd.DataFrame({"a": [1.5, float("nan")], "prediction": ["yes", None]}))
    b'{"predictions": [{"a": 1.5, "prediction": "yes"}, {"a": null, "prediction": null}]}'
    """
    import numpy as np
    import pandas as pd

    if isinstance(scored, pd.Series):
        scored = scored.to_frame()
    if not isinstance(scored, pd.DataFrame):
        return json.dumps({"predictions": np.asarray(scored).tolist()}, default=_jsonable).encode()
    columns = []
    for _, column in scored.items():
        values = column.to_numpy(dtype=object, copy=True)
        missing = column.isna().to_numpy(copy=True)  # NaN, NaT, None, NA
        if pd.api.types.is_float_dtype(column.dtype):
            missing |= np.isinf(column.to_numpy(dtype=float, na_value=np.nan))
        values[missing] = None
        columns.append(values.tolist())
    names = [str(name) for name in scored.columns]
    records = [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
    return json.dumps({"predictions": records}, default=_jsonable, allow_nan=False, ensure_ascii=False).encode()


# --------------------------------------------------------------------------- running it


def serve(
    served: Served,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    workers: int = 1,
    max_body_mb: float = DEFAULT_MAX_BODY_MB,
    access_log: bool = False,
    say: Callable[[str], None] = print,
) -> int:
    """Fetch and load ``served``, bind ``host:port`` and answer until stopped; the exit status.

    ``say`` gets one line once the model is loaded and the port bound: the version served and the
    address (``port=0`` takes a free port, named there). Start failures are :class:`ServeError`.
    SIGTERM (what a container runtime sends) and Ctrl-C (SIGINT) stop it gracefully, with any number of
    workers and also while the model is fetched or loaded: requests under way are answered, the fetched
    files removed; then 128 + the signal is returned: 143 for SIGTERM, 130 for Ctrl-C.
    """
    if workers < 1:
        raise ServeError(f"--workers {workers}: give 1 or more worker processes")
    if not 0 <= port <= 65535:
        raise ServeError(f"--port {port}: give a port from 1 to 65535 (0: any free one)")
    if not max_body_mb > 0:
        raise ServeError(f"--max-body-mb {max_body_mb:g}: give the largest request body in MB, above 0")
    sock = _bind(host, port)
    previous = _on_stop_signals()
    try:
        with tempfile.TemporaryDirectory(prefix="nblib-serve-") as tmp:
            local = fetch(served, tmp)
            model = load(local)  # here too when workers start: a model that cannot load stops here, once
            if workers > 1:
                model = None  # each worker loads its own copy from the folder fetched once
            bound = sock.getsockname()
            shown_host = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
            say(
                f"serving {served.describe()} on http://{shown_host}:{bound[1]}"
                + (f" ({workers} workers)" if workers > 1 else "")
            )
            stopped_by = _run(
                model, served, local, sock, workers=workers, max_body_mb=max_body_mb, access_log=access_log
            )
            if stopped_by is None:
                raise ServeError("the server stopped before it was asked to (see the log above)")
    except _Stopped as stop:  # during fetch or load, or uvicorn stopped gracefully and raised the signal again
        return 128 + stop.signum  # here, after the clean-up
    finally:
        sock.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 128 + stopped_by


class _Stopped(BaseException):
    """SIGTERM or SIGINT arrived (see :func:`_on_stop_signals`). A BaseException, as KeyboardInterrupt is, so
    that no ``except Exception`` on the way (fetching, loading) takes it for a failure."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _on_stop_signals() -> dict:
    """Make SIGTERM and SIGINT raise :class:`_Stopped` in the main thread, so that the temporary folder is
    removed on the way out (SIGTERM's default kills the process where uvicorn raises it again after
    shutting down); the handlers replaced, by signal (none off the main thread)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}

    def stopped(signum, frame):
        raise _Stopped(signum)

    return {signum: signal.signal(signum, stopped) for signum in _STOP_SIGNALS}


def _bind(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (as uvicorn binds one), or :class:`ServeError` saying why not."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, OverflowError) as exc:
        raise ServeError(f"--host {host}: not an address here ({one_line(exc)})") from None
    family, *_, address = infos[0]
    sock = socket.socket(family=family, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == 98:  # EADDRINUSE
            raise ServeError(f"{host}:{port}: the port is in use (another server?); pass --port") from None
        raise ServeError(f"{host}:{port}: cannot listen there ({one_line(exc.strerror or exc)})") from None
    sock.set_inheritable(True)
    return sock


def _run(
    model, served: Served, local: Path, sock: socket.socket, *, workers: int, max_body_mb: float, access_log: bool
) -> int | None:
    """Answer until stopped; the signal that stopped it, recorded from uvicorn's supervisor (which takes the
    signals and returns) with ``workers`` > 1; with one, uvicorn raises the signal again once it has stopped
    (see :func:`_on_stop_signals`), so a return (None) means it stopped by itself."""
    import uvicorn

    options = {"log_level": "warning", "access_log": access_log, "lifespan": "off", "timeout_graceful_shutdown": 10}
    if workers == 1:
        config = uvicorn.Config(make_app(model, served, max_body_mb=max_body_mb), **options)
        uvicorn.Server(config).run(sockets=[sock])
        return None
    config = uvicorn.Config(f"{__name__}:_worker_app", factory=True, workers=workers, **options)
    ours = {signum: signal.getsignal(signum) for signum in _STOP_SIGNALS}
    try:
        os.environ[_ENV_DIR], os.environ[_ENV_SERVED] = str(local), json.dumps(asdict(served))
        os.environ[_ENV_MAX_BODY] = repr(max_body_mb)
        supervisor = _supervisor()(config, sockets=[sock])  # it replaces the handlers of SIGINT, SIGTERM, SIGHUP ...
        supervisor.run()
    finally:
        for name in (_ENV_DIR, _ENV_SERVED, _ENV_MAX_BODY):
            os.environ.pop(name, None)
        for signum, handler in ours.items():
            if handler is not None:
                signal.signal(signum, handler)
    return supervisor.stopped_by  # None: the workers failed to start


def _supervisor():
    """uvicorn's ``Multiprocess``, recording which signal stopped it (it returns normally either way)."""
    from uvicorn.supervisors import Multiprocess

    class Supervisor(Multiprocess):
        stopped_by: int | None = None

        def handle_int(self) -> None:
            self.stopped_by = signal.SIGINT
            super().handle_int()

        def handle_term(self) -> None:
            self.stopped_by = signal.SIGTERM
            super().handle_term()

    return Supervisor


def _worker_app():
    """The app of one worker process of ``--workers N`` (uvicorn imports this by name)."""
    return make_app(
        load(os.environ[_ENV_DIR]),
        Served(**json.loads(os.environ[_ENV_SERVED])),
        max_body_mb=float(os.environ.get(_ENV_MAX_BODY) or DEFAULT_MAX_BODY_MB),
    )


# --------------------------------------------------------------------------- helpers


async def _body(request, limit: int, too_large: Callable[[], RequestError]) -> bytes:
    """The request's body, or ``too_large()`` raised when it is declared or read past ``limit`` bytes. The rest
    of a body too large is read and dropped, never kept: a client that sends its whole body before it reads
    (urllib, requests) gets the 413, where closing on it would be a broken pipe."""
    declared = (request.headers.get("content-length") or "").strip()
    over = declared.isdigit() and int(declared) > limit
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if not over and size > limit:
            over = True
            chunks.clear()
        if not over:
            chunks.append(chunk)
    if over:
        raise too_large()
    return b"".join(chunks)


def _error(status: int, code: str, message: str):
    from starlette.responses import Response

    return Response(json.dumps({"error_code": code, "message": message}), status, media_type="application/json")


def _json_rows(text: str):
    import pandas as pd

    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RequestError(f"malformed JSON: {exc}", 400, "MALFORMED_REQUEST") from None
    except RecursionError:
        raise RequestError("malformed JSON: nested too deeply", 400, "MALFORMED_REQUEST") from None
    except ValueError:  # int() refuses an integer of more digits than sys.get_int_max_str_digits()
        raise RequestError(
            f"malformed JSON: a number of more than {sys.get_int_max_str_digits()} digits", 400, "MALFORMED_REQUEST"
        ) from None
    formats = " or ".join(JSON_FORMATS)
    if not isinstance(doc, dict):
        raise RequestError(
            f"the JSON body must be an object holding {formats}; got {_kind(doc)}", 400, "MALFORMED_REQUEST"
        )
    given = [key for key in JSON_FORMATS if key in doc]
    if len(given) != 1:
        keys = ", ".join(map(repr, list(doc)[:6])) or "none"
        raise RequestError(
            f"the JSON body must hold exactly one of {formats}; its keys: {keys}", 400, "MALFORMED_REQUEST"
        )
    key, rows = given[0], doc[given[0]]
    try:
        if key == "dataframe_split":
            if not isinstance(rows, dict) or not isinstance(rows.get("data"), list):
                raise RequestError(
                    f"dataframe_split must be an object with 'data' (a list of rows) and 'columns'; got {_kind(rows)}"
                )
            extra = set(rows) - {"columns", "data", "index"}
            if extra:
                raise RequestError(
                    f"dataframe_split holds {', '.join(map(repr, sorted(extra)))}; only columns, data and index "
                    f"belong there"
                )
            bad = next((i for i, row in enumerate(rows["data"]) if not isinstance(row, list)), None)
            if bad is not None:
                raise RequestError(
                    f"dataframe_split: data row {bad + 1} is {_kind(rows['data'][bad])}, not a list of cells"
                )
            frame = pd.DataFrame(data=rows["data"], columns=rows.get("columns"), index=rows.get("index"))
        elif key == "inputs" and isinstance(rows, dict):  # columns: {"a": [1, 2], "b": [...]}
            frame = pd.DataFrame(rows)
        else:
            if not isinstance(rows, list):
                raise RequestError(f"{key} must be a list of objects (one per row); got {_kind(rows)}")
            bad = next((i for i, row in enumerate(rows) if not isinstance(row, dict)), None)
            if bad is not None:
                raise RequestError(f"{key}: row {bad + 1} is {_kind(rows[bad])}, not an object of column: value")
            frame = pd.DataFrame.from_records(rows) if rows else pd.DataFrame()
    except RequestError:
        raise
    except (ValueError, TypeError) as exc:  # "3 columns passed, passed data had 2 columns" ...
        raise RequestError(f"{key}: {one_line(exc, 300, first=True)}", 400, "MALFORMED_REQUEST") from None
    return _checked(frame)


def _csv_rows(text: str):
    import pandas as pd

    try:
        frame = pd.read_csv(io.StringIO(text))  # as nblib predict reads a CSV file
    except pd.errors.EmptyDataError:
        raise RequestError("the CSV is empty: send a header line and rows", 400, "MALFORMED_REQUEST") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise RequestError(f"the CSV cannot be read: {one_line(exc, 300)}", 400, "MALFORMED_REQUEST") from None
    return _checked(frame)


def _checked(frame):
    """``frame``, unless a column is named twice or a cell holds a list or an object (no table has one;
    Parquet's list cells are numpy arrays, its struct cells dicts)."""
    import numpy as np
    import pandas as pd

    twice = frame.columns[frame.columns.duplicated()]
    if len(twice):
        raise RequestError(f"column {twice[0]!r} is given twice")
    for column in [c for c, dtype in frame.dtypes.items() if pd.api.types.is_object_dtype(dtype)]:
        values = frame[column].to_numpy()
        for position, value in enumerate(values):
            if isinstance(value, list | dict | tuple | set | np.ndarray):
                raise RequestError(
                    f"column {column!r}, row {position + 1}: {_kind(value)}, where a cell holds a number, text, "
                    f"true/false or null"
                )
    return frame


def _kind(value: Any) -> str:
    """How JSON would name ``value``'s type.

    >>> _kind([1]), _kind({}), _kind("x"), _kind(None)
    ('a list', 'an object', 'text', 'null')
    """
    if value is None:
        return "null"
    if isinstance(value, list | tuple | set) or type(value).__name__ == "ndarray":
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "text" if isinstance(value, str) else f"a {type(value).__name__}"


def _jsonable(value: Any) -> Any:
    """What ``json.dumps`` cannot write itself: numpy scalars, timestamps, bytes."""
    import datetime

    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", errors="replace")
    return str(value)
