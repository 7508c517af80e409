"""Small command-line behaviours a trial hit: a closed pipe, and a re-run keeping its run's label.
Nothing here executes a notebook."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT

from nblib.cli import main as cli
from nblib.engine import artifacts as io
from nblib.engine.params import dump_params
from nblib.factory import app


@pytest.mark.parametrize("args", [["list"], ["cache", "info"], ["--version"]])
def test_a_reader_that_goes_away_gets_no_traceback(reports, args):
    """``nblib list | head``: the reader closes the pipe before nblib writes."""
    env = {**os.environ, "NBLIB_REPORTS": str(reports), "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "nblib", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.close()  # nobody will read what it prints
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 141, err  # 128 + SIGPIPE, like any shell tool
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_another_broken_pipe_is_not_hidden(monkeypatch):
    """Only a closed stdout is quiet: a broken pipe elsewhere (a socket, a child) is an error."""

    def boom(argv):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli, "_main", boom)
    with pytest.raises(BrokenPipeError):
        cli.main([])


class _Started(Exception):
    pass


def _label_given(monkeypatch, argv: list[str]) -> str:
    """The label ``nblib run ARGV`` would start its run with."""
    from nblib import tracking

    seen = {}

    def fake_start(params, **kwargs):
        seen.update(kwargs)
        raise _Started

    monkeypatch.setattr(app, "start_run", fake_start)
    monkeypatch.setattr(tracking, "prestart", lambda *a, **k: None)
    with pytest.raises(_Started):
        cli.main(argv)
    return seen["label"]


def _sweep_run(reports, label="smoke · seed=4"):
    """A run folder as a sweep leaves it: resolved params (seed 4) and its label in the manifest."""
    run = reports / "2026-11-29" / "101500-smoke-seed=4"
    run.mkdir(parents=True)
    (run / "params.yaml").write_text(dump_params(app.load([ROOT / "params" / "smoke.yaml"], ["seed=4"])))
    io.write_json(
        run / "manifest.json",
        {
            "run_id": "2026-11-29/101500-smoke-seed=4",
            "name": "smoke-seed=4",
            "label": label,
            "status": "interrupted",
            "stages": [],
        },
    )
    return run


def test_resume_keeps_the_run_label(reports, monkeypatch):
    run = _sweep_run(reports)
    assert _label_given(monkeypatch, ["run", "--resume", str(run), "-q"]) == "smoke · seed=4"


def test_run_dir_keeps_the_label_and_adds_new_overrides(reports, monkeypatch):
    run = _sweep_run(reports)
    argv = ["run", str(ROOT / "params" / "smoke.yaml"), "--run-dir", str(run), "-p", "train.cv_folds=3", "-q"]
    assert _label_given(monkeypatch, argv) == "smoke · seed=4 · train.cv_folds=3"


def test_run_dir_of_other_params_gets_a_new_label(reports, monkeypatch):
    run = _sweep_run(reports, label="hotel · seed=4")
    argv = ["run", str(ROOT / "params" / "smoke.yaml"), "--run-dir", str(run), "-q"]
    assert _label_given(monkeypatch, argv) == "smoke"
