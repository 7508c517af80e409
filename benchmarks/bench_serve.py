"""Throughput and latency of ``nblib serve`` for 1 and 1,000 rows per request.

    python benchmarks/bench_serve.py [--reports DIR] [--requests 200] [--big-requests 30] [--no-mlflow] [--out FILE]

A tracked ``params/smoke.yaml`` run (its default families: the model chosen is what a small real run
chooses, an ensemble or a single family) registers ``nblib-smoke`` in a temporary reports folder
(``--reports DIR``: use the store of an earlier run there instead), ``nblib serve --port 0`` serves its
``@champion``, and one client sends requests one after another over one kept-alive connection, as a load
balancer does: rows of the generator (1,000 new rows, raw: dates as text, missing values) as JSON
``dataframe_records`` and as CSV, after a few warm-up requests. For each size and format: latency
p50/p95/mean (ms, from sending the request to reading the whole answer), requests/s and rows/s.

With MLflow's own scoring server (``mlflow models serve --env-manager local``) on the same model and
requests for comparison, unless ``--no-mlflow``.

Writes benchmarks/results/serve.json (``--out`` for elsewhere) and prints a table. The numbers hold for
this machine and its load at the time (both recorded); nothing here is a pass/fail target.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
MODEL = "nblib-smoke"
SIZES = (1, 1000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=Path, default=None, help="a reports folder whose store has nblib-smoke")
    parser.add_argument("--requests", type=int, default=200, help="timed requests of 1 row (per format)")
    parser.add_argument("--big-requests", type=int, default=30, help="timed requests of 1,000 rows (per format)")
    parser.add_argument("--no-mlflow", action="store_true", help="leave out MLflow's scoring server")
    parser.add_argument("--out", type=Path, default=RESULTS / "serve.json")
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        reports = args.reports or Path(tmp) / "reports"
        env = {**os.environ, "NBLIB_REPORTS": str(reports), "PYTHONWARNINGS": "ignore"}
        if args.reports is None:
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "nblib", "run", "params/smoke.yaml", "--quiet"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                sys.exit(f"bench_serve: the smoke run failed:\n{done.stderr[-2000:]}")
            print(f"smoke run: {time.perf_counter() - started:.0f} s", file=sys.stderr)
        bodies = _bodies()
        servers = {"nblib serve": _measure_nblib(env, bodies, args)}
        if not args.no_mlflow:
            servers["mlflow models serve --env-manager local"] = _measure_mlflow(env, reports, bodies, args)
    result = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "how": "one client, requests one after another over one kept-alive HTTP/1.1 connection; latency from "
        "sending the request to reading the whole answer; raw generator rows (dates as text, missing values)",
        "servers": servers,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    _print(result)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- measuring


def _bodies() -> dict[tuple[int, str], tuple[bytes, str]]:
    """``(rows, format) -> (body, content type)`` for 1 and 1,000 new raw rows."""
    import numpy as np

    from nblib.ml.data.datasets import make_product_launches

    raw = make_product_launches(max(SIZES), random_state=101).frame.drop(columns=["is_hit", "revenue_k"])
    out = {}
    for size in SIZES:
        part = raw.head(size)
        records = part.astype(object).where(part.notna(), None).to_dict(orient="records")
        native = lambda v: v.item() if isinstance(v, np.generic) else str(v)  # noqa: E731
        as_json = json.dumps({"dataframe_records": records}, default=native)
        out[size, "json"] = as_json.encode(), "application/json"
        out[size, "csv"] = part.to_csv(index=False).encode(), "text/csv"
    return out


def _measure_nblib(env: dict, bodies: dict, args) -> dict:
    proc = subprocess.Popen(
        [sys.executable, "-m", "nblib", "serve", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = time.perf_counter()
    try:
        line = proc.stderr.readline().strip()
        found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if found is None:
            sys.exit(f"bench_serve: nblib serve did not start: {line}{proc.stderr.read()}")
        port = int(found.group(1))
        start_s = _wait_ping(port, proc, started)
        return {"serves": line, "start_s": round(start_s, 2), "results": _measure(port, bodies, args)}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def _measure_mlflow(env: dict, reports: Path, bodies: dict, args) -> dict:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = f"sqlite:///{reports / '.mlflow' / 'mlflow.db'}"
    mlflow = Path(sys.executable).with_name("mlflow")
    command = [str(mlflow), "models", "serve", "-m", f"models:/{MODEL}@champion", "--env-manager", "local"]
    proc = subprocess.Popen(
        [*command, "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        env={  # it runs `uvicorn` from PATH: the venv's
            **env,
            "PATH": f"{mlflow.parent}{os.pathsep}{env.get('PATH', '')}",
            "MLFLOW_TRACKING_URI": store,
            "MLFLOW_REGISTRY_URI": store,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # it starts uvicorn as a child: stop the whole group
    )
    started = time.perf_counter()
    try:
        start_s = _wait_ping(port, proc, started)
        return {"serves": " ".join(command), "start_s": round(start_s, 2), "results": _measure(port, bodies, args)}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)


def _wait_ping(port: int, proc: subprocess.Popen, started: float) -> float:
    while True:
        if proc.poll() is not None:
            sys.exit(f"bench_serve: the server on port {port} stopped (exit {proc.returncode})")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/ping")
            if connection.getresponse().status == 200:
                return time.perf_counter() - started
        except OSError:
            pass
        if time.perf_counter() - started > 180:
            sys.exit(f"bench_serve: nothing answers /ping on port {port} after 180 s")
        time.sleep(0.2)


def _measure(port: int, bodies: dict, args) -> list[dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    rows = []
    for (size, kind), (body, content_type) in bodies.items():
        count = args.requests if size == 1 else args.big_requests
        headers = {"Content-Type": content_type}
        for _ in range(3):  # warm-up: the first answers import and fill caches
            _post(connection, body, headers)
        seconds = []
        total = time.perf_counter()
        for _ in range(count):
            began = time.perf_counter()
            answer = _post(connection, body, headers)
            seconds.append(time.perf_counter() - began)
        total = time.perf_counter() - total
        assert len(json.loads(answer)["predictions"]) == size
        ms = sorted(s * 1000 for s in seconds)
        rows.append(
            {
                "rows_per_request": size,
                "format": kind,
                "requests": count,
                "request_bytes": len(body),
                "answer_bytes": len(answer),
                "p50_ms": round(statistics.median(ms), 2),
                "p95_ms": round(ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))], 2),
                "mean_ms": round(statistics.fmean(ms), 2),
                "requests_per_s": round(count / total, 1),
                "rows_per_s": round(count * size / total, 1),
            }
        )
    connection.close()
    return rows


def _post(connection: http.client.HTTPConnection, body: bytes, headers: dict) -> bytes:
    connection.request("POST", "/invocations", body=body, headers=headers)
    answer = connection.getresponse()
    data = answer.read()
    if answer.status != 200:
        sys.exit(f"bench_serve: {answer.status} {data[:300]!r}")
    return data


# --------------------------------------------------------------------------- reporting


def _print(result: dict) -> None:
    print(f"{'server':<42} {'rows':>5} {'format':<6} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>8} {'rows/s':>9}")
    for name, server in result["servers"].items():
        for r in server["results"]:
            print(
                f"{name:<42} {r['rows_per_request']:>5} {r['format']:<6} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} "
                f"{r['requests_per_s']:>8.1f} {r['rows_per_s']:>9.0f}"
            )
        print(f"{'':<42} start to first /ping: {server['start_s']:.1f} s")


def _git_commit() -> str | None:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


if __name__ == "__main__":
    sys.exit(main())
