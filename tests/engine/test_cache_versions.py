"""Cache keys and package versions: a stage is keyed on the versions of the distributions its
kernel actually imported (issue 15, bug 1), not on a fixed list of packages.

An upgrade is simulated by patching :func:`nblib.engine.packages.installed_version`, the one
place the engine asks which version is installed.
"""

from __future__ import annotations

import json

import nbformat
import pytest

from nblib.engine import artifacts as io
from nblib.engine import manifest as manifest_module
from nblib.engine import packages
from nblib.engine.cache import StageCache, key_of, reasons
from nblib.engine.dag import Pipeline, Stage
from nblib.engine.runner import Runner


def upgrade(monkeypatch, **versions: str) -> None:
    """Pretend ``versions`` (``dist=version``; underscores for dashes) are installed from now on."""
    wanted = {packages.canonical(name): version for name, version in versions.items()}
    real = packages.installed_version
    monkeypatch.setattr(packages, "installed_version", lambda dist: wanted.get(dist) or real(dist))


# --------------------------------------------------------------------------- the store alone


def _stored(tmp_path, recorded: dict[str, str]):
    run_dir = tmp_path / "run"
    io.write_json(run_dir / "artifacts" / "model.json", {"value": 1})
    parts = {"notebook": "n", "params": {}, "data": "", "code": "c", "python": "CPython 3", "inputs": {}}
    cache = StageCache(tmp_path / "cache")
    key = key_of(parts)
    model = run_dir / "artifacts" / "model.json"
    cache.store(
        "04_train",
        key,
        run_dir,
        outputs={"artifacts/model.json": io.sha256_file(model)},
        extras=[],
        meta={"stage": "04_train", "run_id": "day/one", "parts": parts, "packages": recorded},
    )
    return cache, key, parts, run_dir


def test_an_entry_recorded_with_an_older_version_is_a_miss_that_says_which(tmp_path, monkeypatch):
    upgrade(monkeypatch, optuna="5.0.0")
    cache, key, parts, run_dir = _stored(tmp_path, {"optuna": "5.0.0"})
    assert cache.get("04_train", key).packages == {"optuna": "5.0.0"}
    assert cache.could_hit("04_train", {k: v for k, v in parts.items() if k != "inputs"})

    upgrade(monkeypatch, optuna="5.1.0")
    assert cache.get("04_train", key) is None, "recorded with optuna 5.0.0, 5.1.0 is installed: a miss"
    assert not cache.could_hit("04_train", {k: v for k, v in parts.items() if k != "inputs"})
    before = cache.get("04_train", key, current=False)
    assert before is not None, "the outdated entry stays, to say what changed"
    assert reasons(parts, before.data["parts"], notebook="04_train.ipynb", packages_before=before.packages) == [
        "package versions changed: optuna 5.0.0 → 5.1.0"
    ]

    # the stage ran again: its new result replaces the outdated entry of the same key
    stored = cache.store(
        "04_train",
        key,
        run_dir,
        outputs=before.outputs,
        extras=[],
        meta={"stage": "04_train", "run_id": "day/two", "parts": parts, "packages": {"optuna": "5.1.0"}},
    )
    assert stored is not None and stored.run_id == "day/two"
    assert cache.get("04_train", key).packages == {"optuna": "5.1.0"}


def test_why_lists_three_changes_then_counts_the_rest():
    changes = [("a", "1", "2"), ("b", "1", "2"), ("c", "1", None), ("d", "1", "2"), ("e", "1", "2")]
    assert packages.describe(changes) == ("package versions changed: a 1 → 2, b 1 → 2, c 1 → not installed and 2 more")


def test_imported_modules_map_to_distributions_without_kernel_plumbing_or_hashed_source(tmp_path):
    own = tmp_path / "src"
    (own / "mine").mkdir(parents=True)
    found = packages.distribution_versions(
        {
            "yaml": "/site/yaml/__init__.py",
            "_yaml": None,
            "ipykernel": None,
            "zmq": None,
            "json": None,
            "mine": str(own / "mine" / "__init__.py"),
        },
        exclude_paths=[own],
    )
    assert found == {"pyyaml": packages.installed_version("pyyaml")}


# --------------------------------------------------------------------------- a run


def _notebooks(folder):
    """``03_features`` imports yaml and writes features.json; ``04_train`` imports optuna and reads it."""
    cells = {
        "03_features": "import json, pathlib, yaml\n"
        "art = pathlib.Path(run_dir) / 'artifacts'\n"
        "(art / 'features.json').write_text(json.dumps(yaml.safe_load('value: 1')))",
        "04_train": "import json, pathlib, optuna\n"
        "art = pathlib.Path(run_dir) / 'artifacts'\n"
        "value = json.loads((art / 'features.json').read_text())['value']\n"
        "(art / 'model.json').write_text(json.dumps({'value': value + 1}))",
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, code in cells.items():
        nb = nbformat.v4.new_notebook()
        params = nbformat.v4.new_code_cell("run_dir = ''\nparams_path = ''")
        params.metadata["tags"] = ["parameters"]
        nb.cells = [params, nbformat.v4.new_code_cell(code)]
        for i, cell in enumerate(nb.cells):
            cell.id = f"{name}-{i}"
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, folder / f"{name}.ipynb")
    return folder


PIPELINE = Pipeline(
    [
        Stage("03_features", outputs={"features": "features.json"}),
        Stage("04_train", inputs={"features": "features.json"}, outputs={"model": "model.json"}),
    ]
)


@pytest.fixture
def project(tmp_path):
    pytest.importorskip("optuna")
    pytest.importorskip("yaml")
    code = tmp_path / "code"
    code.mkdir()
    (code / "lib.py").write_text("VALUE = 1\n")
    return tmp_path, _notebooks(tmp_path / "notebooks"), code


def _runner(project) -> Runner:
    root, notebooks, code = project
    return Runner(
        PIPELINE,
        notebooks_dir=notebooks,
        reports_dir=root / "reports",
        progress=False,
        warmup_code="import json",
        code_paths=(code,),
    )


def _go(runner: Runner, name: str):
    result = runner.run(
        runner.reports_dir / "day" / name, "seed: 1\n", params_hash="h", force=False, sections=lambda names: {}
    )
    assert result.exit_code == 0, result.error
    return result.manifest


def test_upgrading_a_package_a_stage_imported_reruns_that_stage_and_says_why(project, monkeypatch):
    first = _go(_runner(project), "one")
    features, train = first["stages"]
    assert features["packages"]["pyyaml"] == packages.installed_version("pyyaml")
    assert "optuna" not in features["packages"], "only what the stage's own kernel imported"
    optuna = packages.installed_version("optuna")
    assert train["packages"]["optuna"] == optuna
    assert not {"ipykernel", "jupyterlab", "nbdime"} & set(train["packages"]), "no kernel plumbing, no tools"
    assert _runner(project).cache.get("04_train", train["cache_key"]).packages == train["packages"]

    # packages no stage imports change no result: JupyterLab and nbdime upgrades rerun nothing
    monkeypatch.setattr(
        manifest_module, "_VERSIONS", {**manifest_module.package_versions(), "jupyterlab": "0.0.1", "nbdime": "0.0.1"}
    )
    tools = _go(_runner(project), "tools")
    assert [s["status"] for s in tools["stages"]] == ["cached", "cached"]

    upgrade(monkeypatch, optuna="99.0.0")
    second = _go(_runner(project), "two")
    assert [s["status"] for s in second["stages"]] == ["cached", "succeeded"]
    assert second["stages"][1]["why"] == [f"package versions changed: optuna {optuna} → 99.0.0"]
    assert second["stages"][1]["packages"]["optuna"] == "99.0.0"
    third = _go(_runner(project), "three")
    assert [s["status"] for s in third["stages"]] == ["cached", "cached"]
    assert third["stages"][1]["cached_from"] == "day/two", "the new result replaced the outdated entry"

    # a run again in the same folder does not reuse its own record of older versions either
    yaml_version = packages.installed_version("pyyaml")
    upgrade(monkeypatch, optuna="99.0.0", pyyaml="99.1")
    again = _go(_runner(project), "three")
    assert [s["status"] for s in again["stages"]] == ["succeeded", "cached"]
    assert again["stages"][0]["why"] == [f"package versions changed: pyyaml {yaml_version} → 99.1"]
    recorded = json.loads((project[0] / "reports" / "day" / "three" / "manifest.json").read_text())
    assert recorded["stages"][0]["packages"]["pyyaml"] == "99.1"
