"""Shared fixtures (small generated data, a reports folder per test) and the marks that sort tests.

Tests that start work outside the test process are marked here from their code, so a new one is
sorted without anyone remembering to mark it (``make test-fast`` leaves both kinds out, and the
few unit tests listed in ``SLOW``):

- ``e2e``: runs the ``nblib`` command or ``papermill`` in a subprocess (the five ML stages, usually);
- ``kernel``: starts a Jupyter kernel in the test process (the engine's runner on tiny notebooks).

A test is marked when its body, a fixture it uses, or a helper in its module that either calls
contains one of the calls below. Under ``-m "not e2e and not kernel"`` a test that starts a kernel
or such a subprocess anyway fails and says which mark it needs.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _a_share_of_the_cores() -> None:
    """Under ``pytest -n N`` each worker, and the runs and kernels its tests start, gets its share of the cores for
    OpenMP (HistGradientBoosting), BLAS and torch threads, as Dask's nanny gives each of its workers: with a pool
    sized for the whole machine in every kernel of both workers, threads spin against each other (the
    training-options e2e on 2 busy cores: 213 s of CPU, 64 s with one thread each). A value already set is kept."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 0)
    if workers > 0:
        share = str(max(1, (os.cpu_count() or 1) // workers))
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(name, share)


_a_share_of_the_cores()

#: Unit tests too slow for ``make test-fast`` (marked ``slow``; ``make test`` runs them): a node id, or the start
#: of one for every parameter. Seconds from one serial run on the shared machine (2026-12-04).
SLOW = (
    "tests/ml/test_tuning.py::test_groups_never_straddle_train_and_held_out",  # 26 + 5
    "tests/ml/test_estimators.py::test_passes_check_estimator[nblib.ml.training.nn.",  # 9 + 7
    "tests/ml/test_tuning.py::test_plots_return_figures",  # 9
    "tests/ml/test_search_models.py::test_compare_models_picks_best_and_is_reproducible",  # 9
    "tests/engine/test_artifacts.py::test_every_fitted_family_loads_with_the_allow_list[mlp-",  # 7 + 3
    "tests/ml/test_compare.py::test_delong_agrees_with_a_large_bootstrap",  # 7
    "tests/common/test_common.py::test_no_module_keeps_its_own_did_you_mean_or_file_lock",  # 5
    "tests/engine/test_params.py::test_bad_params_refused_without_importing_scikit_learn",  # 5
    "tests/ml/test_tuning.py::test_each_method_finds_params_and_is_reproducible[grid]",  # 5
    "tests/ml/test_tuning.py::test_n_jobs_changes_no_search_result",  # 4 + 3 + 1
    "tests/ml/test_evaluate.py::test_bootstrap_interval_contains_point_and_is_seeded",  # 3
    "tests/ml/test_imbalance.py::test_resampling_before_cv_inflates_the_score",  # 3
    "tests/ml/test_tuning.py::test_budget_cuts_the_search_short",  # 3
    "tests/ml/test_ensemble.py::test_voting_over_our_pipelines_with_sparse_tfidf_fits_and_saves",  # 3
    "tests/test_nbdime_config.py::test_volatile_changes_are_ignored_but_source_changes_are_not",  # 3
    "tests/test_nbdime_config.py::test_cell_ids_and_output_execution_counts_are_ignored",  # 3
    "tests/test_leak_marks.py::test_mlflow_tags_mark_the_leaky_run",  # 3
)

#: The e2e modules that take minutes, collected first and longest first, so that the two xdist workers start on
#: them and the short tests fill the gaps at the end. The seconds (``make test`` on 2 busy cores, 2026-12-05) are
#: those of the module's longest test, or of its whole ``xdist_group``: a group's tests run one after another on
#: one worker, a module's other tests on whichever worker is free. A module not listed comes after these.
LONG = {
    "tests/test_e2e_retrain.py": 600,  # group retrain: three Airflow DAG runs, two server starts
    "tests/test_airflow.py": 450,  # group airflow: the smoke DAG run, the gated one, a bad conf
    "tests/test_e2e_dask.py": 400,  # group dask-e2e
    "tests/test_ci_model.py": 320,  # group ci-model: make ci-model twice
    "tests/test_tracking.py": 250,  # group tracking: 3 runs in setup
    "tests/test_e2e.py": 230,  # the smoke run and its reruns; then the training options, the notebook defaults
    "tests/test_review.py": 180,  # group review
    "tests/test_e2e_outofcore.py": 150,  # group dask-outofcore
    "tests/test_e2e_cluster_loss.py": 150,  # group dask-cluster-loss
    "tests/test_card.py": 100,  # group card
    "tests/test_e2e_real.py": 90,
    "tests/test_serve.py": 120,  # group serve: one tracked run, one server
    "tests/test_e2e_interrupts.py": 70,
}

#: Code that makes a test ``e2e`` or ``kernel`` (see the module docstring).
STARTS = {
    "e2e": ("run_cli(", "start_cli(", '"-m", "nblib"', '"-m", "papermill"', "start_run(", "execute_notebook("),
    "kernel": ("make_runner(", "Runner(", "KernelPool(", "ForkServer(", "runner_command(", "KernelManager("),
}


def _functions(module) -> dict[str, str]:
    """Source of each function (at any depth) in ``module``, by name."""
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):
        return {}
    # what ast.get_source_segment gives, from lines split once: it splits the whole module again for every
    # function, which made collecting the suite take 12 s longer, in each xdist worker
    lines = [line.encode() for line in source.splitlines(keepends=True)]

    def segment(node) -> str:
        first, last = node.lineno - 1, node.end_lineno - 1
        if first == last:
            return lines[first][node.col_offset : node.end_col_offset].decode()
        middle = b"".join(lines[first + 1 : last])
        return (lines[first][node.col_offset :] + middle + lines[last][: node.end_col_offset]).decode()

    return {
        node.name: segment(node)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }


def _reaching(functions: dict[str, str], calls: tuple[str, ...]) -> set[str]:
    """``calls``, plus the name of each function in ``functions`` that reaches one of them (transitively)."""
    found, grew = set(calls), True
    while grew:
        grew = False
        for name, body in functions.items():
            if name not in found and _contains(body.replace(f"def {name}(", "", 1), found):
                found.add(name)
                grew = True
    return found


def _contains(code: str, calls: set[str]) -> bool:
    """Whether ``code`` has one of ``calls``: a snippet of code, or the name of a function it calls."""
    return any(re.search(rf"(?<![\w.]){c}\(", code) if c.isidentifier() else c in code for c in calls)


_cache: dict[tuple[str, str], set[str]] = {}


def _calls_in(module, kind: str) -> set[str]:
    key = (getattr(module, "__name__", ""), kind)
    if key not in _cache:
        _cache[key] = _reaching(_functions(module), STARTS[kind])
    return _cache[key]


def _starts(item: pytest.Function, kind: str) -> bool:
    """Whether the test, or a fixture it uses, contains a call that starts a ``kind`` process."""
    code = [(item.module, item.function)]
    for name, defs in item._fixtureinfo.name2fixturedefs.items():
        if name != "_nothing_slow_in_fast_tests":
            code.append((sys.modules.get(defs[-1].func.__module__), defs[-1].func))
    for module, func in code:
        try:
            body = inspect.getsource(func)
        except (OSError, TypeError):
            continue
        if _contains(body, _calls_in(module, kind)):
            return True
    return False


def _group_node_ids(config, items) -> None:
    """Under ``--dist loadgroup``, end the node id of each test marked ``xdist_group(NAME)`` with ``@NAME``, as
    pytest-xdist means to: its scheduler sends the tests whose ids end alike to one worker (one module-scoped
    smoke run, one cluster). pytest-xdist 3.8 writes ``item._nodeid``, which pytest 9.2 no longer reads (the id
    is ``item._id``, a ``NodeId``): without this every grouped test went anywhere and each worker made the
    module's shared runs again. Does nothing where xdist's own suffix took, or outside ``--dist loadgroup``."""
    if not getattr(config.option, "loadgroup", False):  # set on the workers of ``-n N --dist loadgroup`` only
        return
    for item in items:
        names = sorted(
            {str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in item.iter_markers("xdist_group")}
        )
        if not names or item.nodeid.endswith("@" + "_".join(names)):
            continue
        grouped = f"{item.nodeid}@{'_'.join(names)}"
        if hasattr(item, "_id"):
            from _pytest.nodeid import NodeId

            item._id = NodeId.parse(grouped)
        else:
            item._nodeid = grouped


def pytest_collection_modifyitems(config, items):
    _group_node_ids(config, items)
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        for kind in ("e2e", "kernel"):
            if not item.get_closest_marker(kind) and _starts(item, kind):
                item.add_marker(kind)
        if item.nodeid.startswith(SLOW):
            item.add_marker("slow")
    # Modules with e2e tests first (the LONG ones longest first), then kernel ones: under xdist the long tests
    # start early and the short ones fill the gaps at the end, instead of one worker finishing a long run alone.
    # A module stays whole, so its module-scoped fixtures (one shared smoke run) are still made once; inside it,
    # a test that says it needs longer (@pytest.mark.timeout) starts before the others.
    rank: dict[str, int] = {}
    first: dict[str, int] = {}
    for i, item in enumerate(items):
        module = item.nodeid.split("::")[0]
        kind = 0 if item.get_closest_marker("e2e") else 1 if item.get_closest_marker("kernel") else 2
        rank[module] = min(kind, rank.get(module, 2))
        first.setdefault(module, i)

    def order(item) -> tuple:
        module = item.nodeid.split("::")[0]
        timeout = item.get_closest_marker("timeout")
        return rank[module], -LONG.get(module, 0), first[module], -(timeout.args[0] if timeout and timeout.args else 0)

    items.sort(key=order)  # stable: otherwise the order inside a module is kept


def pytest_configure(config):
    # pytest-xdist's loadgroup/loadscope would hand out the scopes with the most tests first, whatever they cost:
    # the order above is the order of work (``--dist loadgroup`` in make test; a scope is a test or a group)
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def _fast(config) -> bool:
    expression = config.getoption("markexpr") or ""
    return "not e2e" in expression and "not kernel" in expression


@pytest.fixture(autouse=True)
def _nothing_slow_in_fast_tests(request, monkeypatch):
    """Under ``make test-fast``: a test that starts a kernel or the CLI fails, naming the mark it needs."""
    if not _fast(request.config):
        yield
        return
    started: list[str] = []

    def refuse(what: str, mark: str):
        started.append(f"{what} in a fast test: mark it @pytest.mark.{mark} (see STARTS in tests/conftest.py)")
        raise RuntimeError(started[-1])

    from jupyter_client.manager import KernelManager

    from nblib.engine.forkserver import ForkServer

    def launch(self, *args, **kwargs):
        refuse("a Jupyter kernel started", "kernel")

    def fork_server(self, *args, **kwargs):
        refuse("the kernel fork server started", "kernel")

    popen_init = subprocess.Popen.__init__

    def popen(self, args, *rest, **kwargs):
        words = [str(a) for a in args] if isinstance(args, (list, tuple)) else str(args).split()
        for i, word in enumerate(words[:-1]):
            if word == "-m" and words[i + 1] in ("nblib", "papermill", "nblib.engine.forkserver"):
                refuse(f"python -m {words[i + 1]} started", "e2e")
        popen_init(self, args, *rest, **kwargs)

    monkeypatch.setattr(KernelManager, "_async_launch_kernel", launch)
    monkeypatch.setattr(ForkServer, "start", fork_server)
    monkeypatch.setattr(subprocess.Popen, "__init__", popen)
    yield
    if started and not getattr(request.node, "_failed_already", False):  # the error was swallowed: say it here
        pytest.fail("; ".join(dict.fromkeys(started)), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed:
        item._failed_already = True
    return report


@pytest.fixture(scope="session")
def launches():
    from nblib.ml.data.datasets import make_product_launches

    return make_product_launches(1500, random_state=3)


@pytest.fixture
def reports(tmp_path, monkeypatch) -> Path:
    """A private reports folder, so tests never touch the project's reports/."""
    folder = tmp_path / "reports"
    folder.mkdir()
    monkeypatch.setenv("NBLIB_REPORTS", str(folder))
    return folder


def run_cli(*args: str, reports: Path, cwd: Path = ROOT, timeout: int = 600) -> subprocess.CompletedProcess:
    """``nblib ARGS`` in a subprocess writing into ``reports``."""
    env = {**os.environ, "NBLIB_REPORTS": str(reports), "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", "nblib", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_cli(*args: str, reports: Path, **popen) -> subprocess.Popen:
    """``nblib ARGS`` started in a subprocess writing into ``reports`` (for a test that signals or watches it)."""
    env = {**os.environ, "NBLIB_REPORTS": str(reports), "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen(
        [sys.executable, "-m", "nblib", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def wait_for_stage(proc: subprocess.Popen, reports: Path, stage: str | None = None, *, skip=(), timeout=300) -> Path:
    """Wait until a run of ``proc`` in ``reports`` (not one of the folders ``skip``) has ``stage`` (any stage
    when ``None``) running; its manifest's path. Fails if ``proc`` ends first or ``timeout`` passes."""
    import json
    import time

    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        for manifest in reports.glob("*/*/manifest.json"):
            if manifest.parent in skip:
                continue
            try:
                stages = json.loads(manifest.read_text())["stages"]
            except (OSError, ValueError, KeyError):
                continue
            if any(s["status"] == "running" and stage in (None, s["name"]) for s in stages):
                return manifest
        time.sleep(0.1)


def run_folders(reports: Path) -> list[Path]:
    """Dated run folders (not the cache, the scratch run or sweep pages)."""
    import re

    return sorted(p for p in reports.glob("*/*") if p.is_dir() and re.fullmatch(r"\d{4}-\d{2}-\d{2}", p.parent.name))


def sigint_as_at_a_terminal():
    """``preexec_fn`` for a runner a test interrupts: the runner leaves SIGINT alone when it starts with
    SIGINT ignored (``nohup``, ``cmd &``), and a test harness may start tests that way."""
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)  # SIG_DFL after exec
