"""Several runs from one command: what runs, how each is labelled, bad params refused before any run."""

from __future__ import annotations

import pytest
from conftest import ROOT

from nblib.engine.errors import ParamsError
from nblib.factory.sweep import expand, split_values


def test_every_combination_of_files_and_values_is_one_labelled_run():
    files = [ROOT / "params" / "smoke.yaml", ROOT / "params" / "regression.yaml"]
    variants = expand(files, ["evaluate.bootstrap=40"], ["train.cv_folds=2,3", "seed=1,2"])
    assert len(variants) == 8
    first = variants[0]
    assert first.params_file == files[0]
    assert first.overrides == ["evaluate.bootstrap=40", "train.cv_folds=2", "seed=1"]
    assert first.label == "smoke · evaluate.bootstrap=40 · train.cv_folds=2 · seed=1"
    assert len({v.label for v in variants}) == 8


def test_a_bad_value_anywhere_is_refused_before_anything_runs():
    with pytest.raises(ParamsError, match="train.cv_folds"):
        expand([ROOT / "params" / "smoke.yaml"], [], ["train.cv_folds=3,one"])
    with pytest.raises(ParamsError, match="expected SECTION.KEY=V1,V2"):
        expand([ROOT / "params" / "smoke.yaml"], [], ["train.cv_folds"])


def test_values_keep_their_brackets():
    assert split_values("[logistic_regression, random_forest],[random_forest]") == [
        "[logistic_regression, random_forest]",
        "[random_forest]",
    ]
    assert split_values("'a,b',c") == ["'a,b'", "c"]


def test_a_sweep_runs_on_one_backend_and_one_cluster():
    from nblib.factory.sweep import _cluster_settings

    smoke = [ROOT / "params" / "smoke.yaml"]
    assert _cluster_settings(expand(smoke, [], ["seed=1,2"])) is None  # local: subprocesses, as before
    on_dask = _cluster_settings(expand(smoke, ["compute.backend=dask"], ["seed=1,2"]))
    assert on_dask.compute.backend == "dask"
    with pytest.raises(ParamsError, match="differ in compute.backend"):
        _cluster_settings(expand(smoke, [], ["compute.backend=local,dask"]))
    with pytest.raises(ParamsError, match="differ in compute.dask"):
        _cluster_settings(expand(smoke, ["compute.backend=dask"], ["compute.dask.n_workers=1,2"]))
