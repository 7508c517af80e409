"""``nblib export airflow`` without Airflow: what the DAG file says, and what the exporter refuses.

The file is read as Python (``ast``), never imported (that needs Airflow: tests/test_airflow.py does it).
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nblib.cli.main import _unused, main
from nblib.engine.errors import ParamsError
from nblib.factory.airflow import FINAL_TASK, dag_id, export_airflow, render_dag
from nblib.factory.params import load_params
from nblib.factory.pipeline import PIPELINE

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "params" / "smoke.yaml"


def constants(text: str) -> dict:
    """The module-level ``NAME = literal`` assignments of a DAG file."""
    out = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return out


def dag_call(text: str) -> dict[str, str]:
    """The keyword arguments of the ``DAG(...)`` call, as source text."""
    call = next(n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "DAG")
    return {k.arg: ast.unparse(k.value) for k in call.keywords}


def render(path: Path = SMOKE, overrides: tuple[str, ...] = ()) -> str:
    return render_dag(load_params([path], list(overrides)), nblib="/opt/nblib/bin/nblib", reports="/srv/r", root="/p")


def test_the_stages_and_their_dependencies_are_the_pipelines():
    found = constants(render())
    assert [name for name, _ in found["STAGES"]] == PIPELINE.names()
    assert {name: set(up) for name, up in found["STAGES"]} == {s.name: PIPELINE.dependencies(s.name) for s in PIPELINE}
    assert found["FINAL_TASK"] == FINAL_TASK and FINAL_TASK not in PIPELINE.names()
    assert found["DAG_ID"] == "nblib_smoke"


def test_the_params_are_the_resolved_params_and_the_defaults_are_baked_in():
    params = load_params([SMOKE], ["train.cv_folds=3"])
    found = constants(render(overrides=("train.cv_folds=3",)))
    assert yaml.safe_load(found["PARAMS_YAML"]) == params.model_dump()
    defaults = {"NBLIB_EXECUTABLE": "/opt/nblib/bin/nblib", "NBLIB_REPORTS": "/srv/r", "NBLIB_ROOT": "/p"}
    assert found["DEFAULTS"] == defaults


def test_the_schedule_section_sets_cron_retries_delay_timeout_and_catchup():
    text = render(
        overrides=(
            "schedule.cron=0 3 * * 1",
            "schedule.retries=4",
            "schedule.retry_delay_s=30",
            "schedule.timeout_s=600",
            "schedule.catchup=true",
        )
    )
    call = dag_call(text)
    assert call["schedule"] == "'0 3 * * 1'" and call["catchup"] == "True"
    assert "'retries': 4" in call["default_args"]
    assert "dt.timedelta(seconds=30.0)" in call["default_args"]
    assert "'execution_timeout': dt.timedelta(seconds=600.0)" in call["default_args"]
    default = dag_call(render())
    assert default["schedule"] == "None" and default["catchup"] == "False"  # no cron: runs only when triggered
    assert "'execution_timeout': None" in default["default_args"]


def test_a_relative_data_path_becomes_absolute(tmp_path, launches):
    launches.frame.to_csv(tmp_path / "table.csv", index=False)
    (tmp_path / "mine.yaml").write_text("data: {source: table.csv, target: is_hit, drop_columns: [revenue_k]}\n")
    found = constants(render(tmp_path / "mine.yaml"))
    assert yaml.safe_load(found["PARAMS_YAML"])["data"]["source"] == str((tmp_path / "table.csv").resolve())


def test_text_from_params_cannot_break_out_of_its_literal(tmp_path):
    name = "x'''\"\"\" + __import__('os').system('boom') #\\"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**yaml.safe_load(SMOKE.read_text()), "name": name, "description": name + "\n"}))
    text = render(bad)
    found = constants(text)  # parses: every value is a literal
    assert found["NAME"] == name and yaml.safe_load(found["PARAMS_YAML"])["name"] == name
    assert dag_call(text)["description"] == repr(name + "\n")
    calls = [ast.unparse(n.func) for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Call)]
    assert not [c for c in calls if "system" in c or "__import__" in c]
    assert found["DAG_ID"] == dag_id(name) and set(found["DAG_ID"]) <= set("abcdefghijklmnopqrstuvwxyz_-0123456789")


@pytest.mark.skipif(shutil.which("ruff", path=str(Path(sys.executable).parent)) is None, reason="ruff not installed")
def test_the_file_is_clean_python(tmp_path):
    (out,) = export_airflow([SMOKE], [], tmp_path)
    ruff = str(Path(sys.executable).parent / "ruff")
    for args in (
        ["check", "--no-cache", "--isolated", "--target-version", "py310"],  # Airflow 3 runs on Python 3.10 too
        ["format", "--check", "--no-cache", "--isolated", "--line-length", "120"],
    ):
        result = subprocess.run([ruff, *args, str(out)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_export_writes_one_file_per_params_file_and_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NBLIB_REPORTS", str(tmp_path / "reports"))
    other = tmp_path / "other.yaml"
    other.write_text(SMOKE.read_text())
    assert main(["export", "airflow", str(SMOKE), str(other), "-o", str(tmp_path / "dags")]) == 0
    written = sorted(p.name for p in (tmp_path / "dags").iterdir())
    assert written == ["nblib_other.py", "nblib_smoke.py"]  # no temp file left beside them
    assert capsys.readouterr().out.splitlines() == [f"wrote {tmp_path / 'dags' / n}" for n in reversed(written)]
    found = constants((tmp_path / "dags" / "nblib_smoke.py").read_text())
    assert found["DEFAULTS"]["NBLIB_REPORTS"] == str((tmp_path / "reports").resolve())
    assert Path(found["DEFAULTS"]["NBLIB_EXECUTABLE"]).is_absolute()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["params/no_such.yaml"], "no_such.yaml"),
        (["params/smoke.yaml", "-p", "train.cv_folds=x"], "train.cv_folds"),
        (["params/smoke.yaml", "-p", "schedule.cron=every day"], "schedule.cron: not a cron expression"),
        (["params/smoke.yaml", "params/smoke.yaml"], "makes the DAG nblib_smoke"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, monkeypatch, args, says):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "dags"
    assert main(["export", "airflow", *args, "-o", str(out)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("nblib: error: ") and says in line
    assert not out.exists()


def test_the_nblib_command_is_named_by_nblib_executable(tmp_path, monkeypatch):
    monkeypatch.setenv("NBLIB_EXECUTABLE", "/opt/elsewhere/bin/nblib")
    with pytest.raises(ParamsError, match="NBLIB_EXECUTABLE=/opt/elsewhere/bin/nblib: not an executable file"):
        export_airflow([SMOKE], [], tmp_path)
    fake = tmp_path / "nblib"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("NBLIB_EXECUTABLE", str(fake))
    (out,) = export_airflow([SMOKE], [], tmp_path / "dags")
    assert constants(out.read_text())["DEFAULTS"]["NBLIB_EXECUTABLE"] == str(fake)


def test_run_dir_may_name_a_new_or_empty_folder_but_not_one_holding_other_files(tmp_path):
    assert _unused(tmp_path / "new" / "run")
    (tmp_path / "empty" / "artifacts").mkdir(parents=True)
    (tmp_path / "empty" / "params.yaml").write_text("seed: 1\n")  # a run stopped before its manifest
    assert _unused(tmp_path / "empty")
    (tmp_path / "empty" / "artifacts" / "raw.parquet").write_bytes(b"")
    assert not _unused(tmp_path / "empty")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    assert not _unused(tmp_path / "mine") and not _unused(tmp_path / "mine" / "notes.txt")
