"""Folder outputs (a declared path ending in ``/``): every file in them is hashed, cached, restored
and cleared like any artifact. 04_train declares its TensorBoard event files so (issue 15)."""

from __future__ import annotations

import json

import nbformat
import pytest

from nblib.engine import artifacts as io
from nblib.engine.cache import StageCache
from nblib.engine.dag import Pipeline, Stage
from nblib.engine.integrity import hash_outputs
from nblib.engine.runner import Runner, _clear_outputs

_WRITE = """import json, pathlib
art = pathlib.Path(run_dir) / "artifacts"
(art / "a.json").write_text(json.dumps({"value": 1}))
(art / "logs" / "inner").mkdir(parents=True, exist_ok=True)
(art / "logs" / "events.1").write_text("first")
(art / "logs" / "inner" / "events.2").write_text("second")"""


def _runner(root):
    folder = root / "notebooks"
    folder.mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("run_dir = ''\nparams_path = ''")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(_WRITE)]
    for i, cell in enumerate(nb.cells):
        cell.id = f"a-{i}"
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / "a.ipynb")
    pipeline = Pipeline([Stage("a", outputs={"a": "a.json", "logs": "logs/"}, optional_outputs=("logs",))])
    return Runner(
        pipeline, notebooks_dir=folder, reports_dir=root / "reports", progress=False, warmup_code="import json"
    )


def _run(runner, run_dir, *, force):
    return runner.run(run_dir, "seed: 1\n", params_hash="h", sections=lambda names: {}, force=force)


def test_a_cached_stage_restores_its_folder_output_and_clears_a_stale_one(tmp_path):
    runner = _runner(tmp_path)
    first = _run(runner, tmp_path / "reports" / "day" / "one", force=True)
    assert first.exit_code == 0, first.error
    outputs = first.manifest["stages"][0]["outputs"]
    assert {"artifacts/logs/events.1", "artifacts/logs/inner/events.2"} <= set(outputs)

    second_dir = tmp_path / "reports" / "day" / "two"
    (second_dir / "artifacts" / "logs").mkdir(parents=True)
    (second_dir / "artifacts" / "logs" / "stale").write_text("an earlier run's file")
    second = _run(runner, second_dir, force=False)
    record = second.manifest["stages"][0]
    assert record["status"] == "cached" and record["outputs"] == outputs
    assert (second_dir / "artifacts" / "logs" / "inner" / "events.2").read_text() == "second"
    assert not (second_dir / "artifacts" / "logs" / "stale").exists()


def test_a_folder_output_is_no_input():
    with pytest.raises(ValueError, match="a folder output is not an input"):
        Pipeline([Stage("a", outputs={"logs": "logs/"}), Stage("b", inputs={"logs": "logs/"})])


def test_04_train_tensorboard_events_are_hashed_cached_restored_and_cleared(tmp_path):
    """Issue 15: the event files were no declared output: a cached 04_train silently lacked them."""
    from nblib.factory.pipeline import PIPELINE

    stage = PIPELINE["04_train"]
    assert stage.outputs["tensorboard"].endswith("/") and "tensorboard" in stage.optional_outputs
    run = tmp_path / "run"
    art = run / "artifacts"
    io.write_json(art / "cv_results.json", {"chosen": {}})
    (art / "model.skops").write_bytes(b"model")
    events = art / stage.outputs["tensorboard"] / "events.out.tfevents.1.host.1.0"
    events.parent.mkdir(parents=True)
    events.write_bytes(b"epoch losses")
    outputs = hash_outputs(stage, run)
    assert events.relative_to(run).as_posix() in outputs

    cache = StageCache(tmp_path / "cache")
    entry = cache.store(stage.name, "k", run, outputs=outputs, extras=[], meta={})
    other = tmp_path / "other"
    stale = other / "artifacts" / "tensorboard" / "events.out.tfevents.0.old.0.0"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"an earlier fit")
    _clear_outputs(stage, other)
    assert not stale.exists()
    assert cache.restore(entry, other) == []
    assert (other / events.relative_to(run)).read_bytes() == b"epoch losses"
    assert json.loads((other / "artifacts" / "cv_results.json").read_text()) == {"chosen": {}}
