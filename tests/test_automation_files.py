"""The automation files are checked like code: nblib's own CI workflow, the workflow ``nblib export ci``
writes, the Containerfile and its ignore files.

- workflows: GitHub's workflow schema (``check-jsonschema --builtin-schema vendor.github-workflows``) and
  ``zizmor --offline`` with no finding of high severity; actions pinned by commit; least privilege; every
  ``run:`` step a make target that exists (``ci-model`` is run by tests/test_ci_model.py);
- the Containerfile: ``hadolint`` passes; BASE argument, multi-stage venv, non-root user, ``nblib`` as the
  entry point, a volume for the reports, a port for ``nblib serve``; no index URL, no dev extras, no torch.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nblib.cli.main import main as nblib_main
from nblib.factory import ci

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CI_YML = ROOT / ".github" / "workflows" / "ci.yml"


def _tool(name: str) -> str:
    found = BIN / name if (BIN / name).exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: it is in the dev extra (pip install -e '.[dev]')")
    return str(found)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """The workflow ``nblib export ci`` writes for smoke.yaml with a gate."""
    out = tmp_path_factory.mktemp("workflows")
    code = nblib_main(
        ["export", "ci", str(ROOT / "params" / "smoke.yaml"), "-p", "evaluate.gates={roc_auc: 0.6}", "-o", str(out)]
    )
    assert code == 0
    return out / ci.WORKFLOW


def _workflows(exported: Path) -> list[Path]:
    return [CI_YML, exported]


@pytest.mark.parametrize("which", ["ci.yml", "exported"])
def test_workflow_matches_githubs_schema(which, exported):
    path = CI_YML if which == "ci.yml" else exported
    done = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("which", ["ci.yml", "exported"])
def test_zizmor_finds_nothing_high(which, exported):
    path = CI_YML if which == "ci.yml" else exported
    done = subprocess.run(
        [_tool("zizmor"), "--offline", "--format", "json", str(path)], capture_output=True, text=True, timeout=120
    )
    findings = json.loads(done.stdout or "[]")
    high = [f for f in findings if f.get("determinations", {}).get("severity") == "High"]
    assert not high, json.dumps(high, indent=1)[:3000]
    assert not findings, "zizmor: " + ", ".join(f"{f['ident']} ({f['determinations']['severity']})" for f in findings)


@pytest.mark.parametrize("which", ["ci.yml", "exported"])
def test_workflow_least_privilege_pinned_and_only_make_targets(which, exported):
    path = CI_YML if which == "ci.yml" else exported
    flow = yaml.safe_load(path.read_text())
    assert flow["permissions"] == {"contents": "read"}
    makefile = (ROOT / "Makefile").read_text()
    for job in flow["jobs"].values():
        assert "permissions" not in job or job["permissions"] == {"contents": "read"}
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"actions/[\w-]+(/[\w-]+)?@[0-9a-f]{40}", step["uses"]), step["uses"]
                if step["uses"].startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False
            if "run" in step:
                target = re.fullmatch(r"make ([\w-]+)( .*)?", step["run"].strip())
                assert target, f"a run step calls something else than a make target: {step['run']!r}"
                assert re.search(rf"^{target.group(1)}:", makefile, re.M), f"no make target {target.group(1)}"
    text = path.read_text()
    for pin in ci.ACTIONS.values():  # each action's commit is the one of the tag its comment names
        if pin["sha"] in text:
            assert f"{pin['sha']} # {pin['tag']}" in text


def test_ci_yml_runs_make_test_on_push_and_pull_request_with_the_venv_cached():
    flow = yaml.safe_load(CI_YML.read_text())
    triggers = flow[True] if True in flow else flow["on"]  # PyYAML reads the key `on` as True
    assert {"push", "pull_request"} <= set(triggers)
    steps = flow["jobs"]["test"]["steps"]
    assert [s["run"] for s in steps if "run" in s] == ["make test"]
    setup = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert setup["with"]["python-version"] == "3.11"
    venv = next(s for s in steps if s.get("with", {}).get("path") == ".venv")
    assert "hashFiles('pyproject.toml')" in venv["with"]["key"] and "python-version" in venv["with"]["key"]


def test_exported_workflow_runs_ci_model_on_pull_requests_and_promotes_on_main(exported):
    flow = yaml.safe_load(exported.read_text())
    triggers = flow[True]
    assert {"notebooks/**", "nblib/**", "params/**"} <= set(triggers["pull_request"]["paths"])
    assert triggers["push"]["branches"] == ["main"]
    assert flow["env"]["CI_PARAMS"] == "params/smoke.yaml"
    assert flow["env"]["CI_ARGS"] == "-p 'evaluate.gates={roc_auc: 0.6}'"
    steps = flow["jobs"]["model"]["steps"]
    run = next(s for s in steps if "run" in s)
    assert run["run"] == 'make ci-model CI_SUMMARY="$GITHUB_STEP_SUMMARY"'
    assert "refs/heads/main" in run["env"]["CI_PROMOTE"]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["path"] == "${{ env.CI_OUT }}" and upload["if"] == "${{ !cancelled() }}"
    saved = next(s for s in steps if s.get("uses", "").startswith("actions/cache/save@"))
    assert "refs/heads/main" in saved["if"]  # only the main branch keeps the registry a run changed


def test_export_ci_refuses_params_outside_the_project_in_one_line(tmp_path, capsys):
    outside = tmp_path / "mine.yaml"
    outside.write_text((ROOT / "params" / "smoke.yaml").read_text())
    assert nblib_main(["export", "ci", str(outside), "-o", str(tmp_path / "wf")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nblib: error: export ci: params file") and "outside the project" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "wf").exists()
    bad = ["export", "ci", str(ROOT / "params" / "smoke.yaml"), "-p", "seed=$(id)", "-o", str(tmp_path / "wf")]
    assert nblib_main(bad) == 2
    assert "cannot travel in the workflow's env" in capsys.readouterr().err
    assert nblib_main(["export", "ci", str(ROOT / "params" / "smoke.yaml"), "-p", "train.cv_fold=3", "-o", "x"]) == 2
    assert "did you mean 'cv_folds'" in capsys.readouterr().err


def test_hadolint_passes_on_the_containerfile():
    done = subprocess.run([_tool("hadolint"), str(ROOT / "Containerfile")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_containerfile_shape():
    text = (ROOT / "Containerfile").read_text()
    instructions = [line.split()[0] for line in text.splitlines() if line and not line[0].isspace() and line[0] != "#"]
    assert instructions[0] == "ARG" and "ARG BASE=python:3.11-slim" in text
    assert instructions.count("FROM") == 2 and "FROM ${BASE} AS build" in text and "COPY --from=build /opt/venv" in text
    user = re.search(r"^USER (\S+)", text, re.M).group(1)
    assert user.split(":")[0] not in ("root", "0")
    assert 'ENTRYPOINT ["nblib"]' in text and 'VOLUME ["/reports"]' in text and "NBLIB_REPORTS=/reports" in text
    assert re.search(r"^EXPOSE \d+", text, re.M)
    assert "://" not in text.replace("# ", "")  # no index URL (a mirror is a build argument)
    pip = " ".join(line for line in text.splitlines() if "pip install" in line)
    assert "pip install ." in pip and "[" not in pip and "torch" not in pip  # no dev extras, no torch


def test_ignore_files_keep_the_venv_reports_and_caches_out():
    def rules(name: str) -> list[str]:
        return [r for r in (ROOT / name).read_text().splitlines() if r and not r.startswith("#")]

    assert rules(".containerignore") == rules(".dockerignore")
    kept = rules(".containerignore")
    assert kept[0] == "*"  # everything out, then only what the image needs back in
    assert {"!nblib/", "!notebooks/", "!params/", "!pyproject.toml", "!README.md"} <= set(kept)
    assert not any(r.startswith("!") and (".venv" in r or "reports" in r or "cache" in r) for r in kept)


def test_ci_model_refuses_bad_params_before_running_and_says_so_in_the_summary(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NBLIB_REPORTS", str(tmp_path / "reports"))
    summary = tmp_path / "summary.md"
    assert ci.main([str(ROOT / "params" / "smoke.yaml"), "-p", "train.cv_fold=3", "--summary", str(summary)]) == 2
    assert "did you mean 'cv_folds'" in capsys.readouterr().err
    assert "refused before anything ran (exit 2)" in summary.read_text()
    assert not (tmp_path / "reports").exists()
