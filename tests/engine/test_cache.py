"""The cross-run cache on a tiny pipeline: hits across runs, misses for the right reasons,
--force STAGE, stages declared not cacheable, damaged entries, pruning, and taking turns."""

from __future__ import annotations

import json
import threading
import time

import nbformat
import pytest
from runner_helpers import write_notebooks

from nblib.engine.cache import StageCache, key_of, notebook_source_hash, parse_size
from nblib.engine.dag import Pipeline, Stage
from nblib.engine.integrity import verify_run
from nblib.engine.runner import Runner

#: ``a`` reads params section ``x``, ``b`` reads ``y`` (and ``a``'s output).
PIPELINE = Pipeline(
    [
        Stage("a", outputs={"a": "a.json"}, sections=("x",)),
        Stage("b", inputs={"a": "a.json"}, outputs={"b": "b.json"}, sections=("y",)),
    ]
)


@pytest.fixture
def project(tmp_path):
    notebooks = write_notebooks(tmp_path / "notebooks")
    code = tmp_path / "code"
    code.mkdir()
    (code / "lib.py").write_text("VALUE = 1\n")
    return tmp_path, notebooks, code


def runner(project, pipeline=PIPELINE) -> Runner:
    root, notebooks, code = project
    return Runner(
        pipeline,
        notebooks_dir=notebooks,
        reports_dir=root / "reports",
        progress=False,
        warmup_code="import json",
        code_paths=(code,),
    )


def go(runner: Runner, name: str, *, x=1, y=1, force=False):
    values = {"x": {"k": x}, "y": {"k": y}}
    run_dir = runner.reports_dir / "day" / name
    result = runner.run(
        run_dir, "seed: 1\n", params_hash="h", force=force, sections=lambda names: {n: values[n] for n in names}
    )
    assert result.exit_code == 0, result.error
    return result.manifest


def statuses(manifest) -> list[str]:
    return [s["status"] for s in manifest["stages"]]


def test_a_second_run_reuses_every_stage_from_the_first_and_starts_no_kernel(project):
    r = runner(project)
    first = go(r, "one")
    second = go(r, "two")
    assert statuses(first) == ["succeeded", "succeeded"]
    assert statuses(second) == ["cached", "cached"]
    assert {s["cached_from"] for s in second["stages"]} == {"day/one"}
    run_dir = r.reports_dir / "day" / "two"
    assert json.loads((run_dir / "artifacts" / "b.json").read_text()) == {"value": 2}
    assert (run_dir / "a.ipynb").exists() and (run_dir / "b.html").exists(), "rendered notebooks come along"
    assert verify_run(run_dir, second) == (2, [])
    assert not (run_dir / "kernels.log").exists(), "a run made only of cached stages starts no kernel"
    assert [s["why"] for s in first["stages"]] == [["nothing cached for this stage yet"]] * 2


def test_a_notebook_edit_misses_and_says_so_but_saved_outputs_do_not(project):
    r = runner(project)
    go(r, "one")
    nb_path = project[1] / "b.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="seen in Lab\n")]
    nb.cells[1].execution_count = 3
    nbformat.write(nb, nb_path)
    assert statuses(go(r, "outputs-only")) == ["cached", "cached"]

    nb.cells[1].source += "\n# edited"
    nbformat.write(nb, nb_path)
    edited = go(r, "edited")
    assert statuses(edited) == ["cached", "succeeded"]
    assert edited["stages"][1]["why"] == ["notebook b.ipynb changed"]


def test_a_source_edit_reruns_everything(project):
    r = runner(project)
    go(r, "one")
    (project[2] / "lib.py").write_text("VALUE = 2\n")
    again = go(runner(project), "two")  # a new process would see the new source: a new runner
    assert statuses(again) == ["succeeded", "succeeded"]
    assert again["stages"][0]["why"] == ["nblib source changed"]


def test_a_params_change_reruns_exactly_the_stages_that_read_it(project):
    r = runner(project)
    go(r, "one")
    changed_y = go(r, "y2", y=2)
    assert statuses(changed_y) == ["cached", "succeeded"]
    assert changed_y["stages"][1]["why"] == ["params.y.k changed (1 → 2)"]
    changed_x = go(r, "x2", x=2)
    assert statuses(changed_x) == ["succeeded", "cached"], "a wrote the same bytes: b's inputs did not change"
    assert changed_x["stages"][0]["why"] == ["params.x.k changed (1 → 2)"]


def test_force_a_stage_runs_it_and_everything_after_it(project):
    r = runner(project)
    go(r, "one")
    only_b = go(r, "fb", force=["b"])
    assert statuses(only_b) == ["cached", "succeeded"] and only_b["stages"][1]["why"] == ["forced (--force b)"]
    both = go(r, "fa", force=["a"])
    assert statuses(both) == ["succeeded", "succeeded"]
    assert both["stages"][1]["why"] == ["forced: downstream of a"]
    assert statuses(go(r, "all", force=True)) == ["succeeded", "succeeded"]


def test_a_stage_declared_not_cacheable_runs_every_time(project):
    pipeline = Pipeline([PIPELINE["a"], Stage("b", inputs={"a": "a.json"}, outputs={"b": "b.json"}, cacheable=False)])
    r = runner(project, pipeline)
    go(r, "one")
    again = go(r, "two")
    assert statuses(again) == ["cached", "succeeded"]
    assert again["stages"][1]["why"] == ["declared not cacheable: runs every time"]
    assert not (r.reports_dir / ".cache" / "b").exists()


def test_a_damaged_cache_entry_is_a_miss_and_is_removed(project):
    r = runner(project)
    first = go(r, "one")
    key = first["stages"][0]["cache_key"]
    entry = r.reports_dir / ".cache" / "a" / key
    stored = entry / "files" / "artifacts" / "a.json"
    stored.unlink()  # a hard link: the run folder's copy is untouched
    stored.write_text('{"value": 99}')
    again = go(r, "two")
    assert statuses(again) == ["succeeded", "cached"]
    assert again["stages"][0]["why"][0].startswith("artifacts/a.json in the cache changed since it was stored")
    assert json.loads((r.reports_dir / "day" / "two" / "artifacts" / "a.json").read_text()) == {"value": 1}
    assert (r.reports_dir / ".cache" / "a" / key / "entry.json").exists(), "stored again, whole"


def test_prune_keeps_the_most_recently_used_entries(project):
    r = runner(project)
    go(r, "one")
    go(r, "y2", y=2)
    store = StageCache(r.reports_dir / ".cache")
    sizes = {folder.parent.name + "/" + folder.name: size for folder, _, size in store.entries()}
    assert len(sizes) == 3
    newest = store.entries()[-1]
    removed, freed, left = store.prune(newest[2])
    assert (removed, left) == (2, newest[2]) and freed > 0
    assert [e[0] for e in store.entries()] == [newest[0]]
    assert store.prune(0)[2] == 0 and store.entries() == []


def test_runs_computing_the_same_stage_take_turns(tmp_path):
    store = StageCache(tmp_path / "cache")
    first = store.claim("a", "k")
    waited, done = [], threading.Event()

    def second():
        store.claim("a", "k", on_wait=lambda: waited.append(True)).release()
        done.set()

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(0.3)
    assert waited == [True] and not done.is_set()
    first.release()
    assert done.wait(5)
    thread.join()


def test_keys_ignore_outputs_and_order_of_parts(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(nb, tmp_path / "n.ipynb")
    before = notebook_source_hash(tmp_path / "n.ipynb")
    nb.cells[0].outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "1"}, execution_count=1)]
    nb.metadata["widgets"] = {"anything": 1}
    nbformat.write(nb, tmp_path / "n.ipynb")
    assert notebook_source_hash(tmp_path / "n.ipynb") == before
    assert key_of({"a": 1, "b": {"c": 2, "d": 3}}) == key_of({"b": {"d": 3, "c": 2}, "a": 1})


@pytest.mark.parametrize(
    "text, expected",
    [("0", 0), ("512", 512), ("2k", 2048), ("1.5G", 3 * 2**29), ("200 MB", 200 * 2**20), ("3GiB", 3 * 2**30)],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


def test_parse_size_refuses_nonsense():
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")


def _diamond(project) -> Pipeline:
    """a → (b, c) → d; b and c record when they started and ended, sleeping 1.5 s in between."""
    notebooks = project[1]
    template = nbformat.read(notebooks / "b.ipynb", as_version=4)
    for name, reads, sleep in (("b", ["a"], 1.5), ("c", ["a"], 1.5), ("d", ["b", "c"], 0)):
        nb = nbformat.from_dict(template)
        nb.cells[1].source = (
            "import json, pathlib, time\nstart = time.time()\n"
            f"time.sleep({sleep})\nart = pathlib.Path(run_dir) / 'artifacts'\n"
            f"value = sum(json.loads((art / f'{{n}}.json').read_text())['value'] for n in {reads!r})\n"
            f"(art / '{name}.json').write_text(json.dumps({{'value': value + 1, 'start': start, 'end': time.time()}}))"
        )
        for i, cell in enumerate(nb.cells):
            cell.id = f"{name}-{i}"
        nbformat.write(nb, notebooks / f"{name}.ipynb")
    return Pipeline(
        [
            Stage("a", outputs={"a": "a.json"}),
            Stage("b", inputs={"a": "a.json"}, outputs={"b": "b.json"}),
            Stage("c", inputs={"a": "a.json"}, outputs={"c": "c.json"}),
            Stage("d", inputs={"b": "b.json", "c": "c.json"}, outputs={"d": "d.json"}),
        ]
    )


@pytest.mark.parametrize("parallel", [2, 1])
def test_stages_that_do_not_depend_on_each_other_run_side_by_side(project, parallel):
    r = runner(project, _diamond(project))
    r.parallel_stages = parallel
    manifest = go(r, "one")
    assert statuses(manifest) == ["succeeded"] * 4
    art = r.reports_dir / "day" / "one" / "artifacts"
    assert json.loads((art / "d.json").read_text())["value"] == 5  # a=1, b=c=2, d=b+c+1
    b, c = (json.loads((art / f"{n}.json").read_text()) for n in "bc")
    overlap = min(b["end"], c["end"]) - max(b["start"], c["start"])
    assert (overlap > 0.5) if parallel == 2 else (overlap < 0)
    assert verify_run(r.reports_dir / "day" / "one", manifest) == (4, [])


def test_a_stage_can_read_only_the_params_it_declares():
    """Else its cached result would be reused after an undeclared param changed."""
    from conftest import ROOT

    from nblib.factory.params import UndeclaredParams, load_params
    from nblib.factory.pipeline import PIPELINE

    params = load_params(ROOT / "params" / "smoke.yaml")
    train = params.declared("04_train", PIPELINE["04_train"].sections)
    assert train.training_settings()["threshold"]["by"] == params.evaluate.threshold_by
    assert train.compute.n_jobs == params.compute.n_jobs, "compute is always readable: it changes no result"
    with pytest.raises(UndeclaredParams, match=r"04_train reads params.evaluate.bootstrap, .* add 'evaluate'"):
        train.evaluate.bootstrap  # noqa: B018 (reading the undeclared key is what must raise)
    with pytest.raises(UndeclaredParams, match="params.quality.leaks"):
        params.declared("03_features", PIPELINE["03_features"].sections).quality.leaks  # noqa: B018 (as above)
    assert params.sections(("evaluate.threshold_by", "seed")) == {"evaluate.threshold_by": "f1", "seed": params.seed}


def test_01_eda_key_ignores_the_quality_keys_it_does_not_read():
    """Changing quality.leaks (read by 02 only) must not rerun 01_eda; a key 01 reads still does."""
    from conftest import ROOT

    from nblib.factory.app import stage_sections
    from nblib.factory.params import load_params
    from nblib.factory.pipeline import PIPELINE

    def key01(*overrides):
        params = load_params(ROOT / "params" / "smoke.yaml", list(overrides))
        return stage_sections(params)(PIPELINE["01_eda"].sections), stage_sections(params)(
            PIPELINE["02_preprocess"].sections
        )

    (eda, pre), (eda_drop, pre_drop) = key01("quality.leaks=warn"), key01("quality.leaks=fail")
    assert eda == eda_drop and pre != pre_drop
    assert key01("quality.outlier_iqr_factor=5")[0] != eda
    # 01 can read what it declares (the notebook would raise UndeclaredParams otherwise)
    view = load_params(ROOT / "params" / "smoke.yaml").declared("01_eda", PIPELINE["01_eda"].sections)
    assert view.quality.max_missing_fraction and view.quality.outlier_iqr_factor


def _go_as(runner: Runner, name: str, *, lineage: str, data: str, y=1):
    values = {"x": {"k": 1}, "y": {"k": y}}
    result = runner.run(
        runner.reports_dir / "day" / name,
        "seed: 1\n",
        params_hash="h",
        force=False,
        sections=lambda names: {n: values[n] for n in names},
        data_sha256=data,
        lineage=lineage,
        label=f"{lineage} · {name}",
    )
    assert result.exit_code == 0, result.error
    return result.manifest


def test_why_a_stage_runs_compares_with_runs_of_the_same_params_not_another_dataset(project):
    r = runner(project)
    _go_as(r, "hotel", lineage="hotel", data="hotel-data", y=1)
    _go_as(r, "wages", lineage="wages", data="wage-data", y=5)  # newest entry: another dataset's run
    hotel = _go_as(r, "hotel-y2", lineage="hotel", data="hotel-data", y=2)
    assert hotel["stages"][1]["why"] == ["params.y.k changed (1 → 2)"], "compared with hotel, not wages"
    # a new file for the same params: still explained against its own lineage
    moved = _go_as(r, "hotel-new-data", lineage="hotel", data="hotel-data-v2", y=2)
    assert moved["stages"][0]["why"] == ["input data changed"]
    # params of their own on the same data as an earlier run: compared with that run
    same_data = _go_as(r, "wages-y7", lineage="wages-tuned", data="wage-data", y=7)
    assert same_data["stages"][1]["why"] == ["params.y.k changed (5 → 7)"]
    # nothing of these params and data in the cache: said so, no diff against strangers
    stranger = _go_as(r, "crashes", lineage="crashes", data="crash-data", y=3)
    assert [s["why"] for s in stranger["stages"]] == [["no earlier run of these params"]] * 2
