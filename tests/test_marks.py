"""tests/conftest.py sorts tests into e2e / kernel / fast from their code, and fast tests cannot start either."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = (Path(__file__).parent / "conftest.py").read_text()
#: Written as the files are made, so that this module's own code calls neither (it is a fast test).
CLI, RUNNER = "run_cli", "make_runner"
MARKERS = "[pytest]\nmarkers =\n    e2e: x\n    kernel: x\n    slow: x\naddopts = --strict-markers\n"


@pytest.fixture
def project(pytester):
    pytester.makeini(MARKERS)
    pytester.makeconftest(CONFTEST)
    return pytester


def test_tests_are_marked_by_what_they_and_their_fixtures_call(project):
    project.makepyfile(
        test_sorted=f"""
import pytest

def helper():
    return {CLI}("run", "params/smoke.yaml")

def {CLI}(*args):
    raise AssertionError("never called at collection")

@pytest.fixture
def done(tmp_path):
    return {RUNNER}(tmp_path)

def test_through_a_helper():
    helper()

def test_through_a_fixture(done):
    pass

def test_plain():
    assert sum([1, 2]) == 3

@pytest.mark.e2e
def test_marked_by_hand():
    pass
"""
    )
    items, _ = project.inline_genitems()
    marks = {item.name: {k for k in ("e2e", "kernel") if item.get_closest_marker(k)} for item in items}
    assert marks == {
        "test_through_a_helper": {"e2e"},
        "test_through_a_fixture": {"kernel"},
        "test_plain": set(),
        "test_marked_by_hand": {"e2e"},
    }


def test_a_fast_test_that_runs_the_cli_anyway_fails_naming_the_mark(project):
    project.makepyfile(
        hidden="""
import subprocess, sys

def cli(*args):
    return subprocess.run([sys.executable, "-m"] + ["nblib", *args], capture_output=True)
""",
        test_sneaky="""
from hidden import cli

def test_version():
    cli("--version")
""",
    )
    project.syspathinsert()
    # in subprocesses: when this test itself runs under make test-fast, its own process refuses `python -m nblib`
    fast = project.runpytest_subprocess("-m", "not e2e and not kernel")
    fast.assert_outcomes(failed=1)
    fast.stdout.fnmatch_lines(["*python -m nblib started in a fast test: mark it @pytest.mark.e2e*"])
    project.runpytest_subprocess().assert_outcomes(passed=1)  # outside make test-fast the same test runs it


def test_modules_with_e2e_tests_are_collected_first_and_stay_whole(project):
    project.makepyfile(
        test_a_fast="def test_one():\n    pass\n",
        test_b_slow=f'def test_plain():\n    pass\n\ndef test_run():\n    {CLI}("run")\n',
    )
    listed = project.runpytest("--collect-only", "-q").stdout.lines
    assert [line.split("::")[1] for line in listed if "::" in line] == ["test_plain", "test_run", "test_one"]
