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


def test_an_xdist_group_is_one_unit_of_work_under_loadgroup(project):
    """``--dist loadgroup`` (make test) must send every test of an ``xdist_group`` to one worker, so the
    module-scoped runs of test_card, test_review and test_tracking are made once, not once per worker."""
    from conftest import _group_node_ids
    from xdist.scheduler.loadgroup import LoadGroupScheduling

    items = project.getitems(
        "import pytest\n\npytestmark = pytest.mark.xdist_group('one')\n\n"
        "def test_a():\n    pass\n\n@pytest.mark.parametrize('i', [1, 2])\ndef test_b(i):\n    pass\n"
    )
    ids = [item.nodeid for item in items]
    config = items[0].config
    _group_node_ids(config, items)
    assert [item.nodeid for item in items] == ids  # outside --dist loadgroup: untouched
    config.option.loadgroup = True  # what pytest-xdist sets on its workers under --dist loadgroup
    _group_node_ids(config, items)
    _group_node_ids(config, items)  # once only
    assert [item.nodeid for item in items] == [f"{i}@one" for i in ids]
    assert {LoadGroupScheduling._split_scope(None, item.nodeid) for item in items} == {"one"}
