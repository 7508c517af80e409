import pytest

from nblib.engine.dag import Pipeline, Stage
from nblib.factory.pipeline import PIPELINE


def test_stages_are_ordered_by_their_inputs():
    p = Pipeline([Stage("b", inputs={"x": "x.json"}, outputs={"y": "y.json"}), Stage("a", outputs={"x": "x.json"})])
    assert p.names() == ["a", "b"]
    assert [s.name for s in p.upstream("b")] == ["a"]


def test_input_nobody_writes():
    with pytest.raises(ValueError, match="stage b reads \\['x.json'\\], which no stage writes"):
        Pipeline([Stage("b", inputs={"x": "x.json"})])


def test_two_writers():
    with pytest.raises(ValueError, match="written by a and b"):
        Pipeline([Stage("a", outputs={"x": "x.json"}), Stage("b", outputs={"x": "x.json"})])


def test_cycle():
    with pytest.raises(ValueError, match="cycle"):
        Pipeline([Stage("a", inputs={"y": "y"}, outputs={"x": "x"}), Stage("b", inputs={"x": "x"}, outputs={"y": "y"})])


def test_unknown_stage_suggests():
    with pytest.raises(KeyError, match="did you mean '04_train'"):
        PIPELINE["04_trian"]


def test_project_pipeline():
    assert PIPELINE.names() == ["01_eda", "02_preprocess", "03_features", "04_train", "05_evaluate"]
    assert [s.name for s in PIPELINE.upstream("05_evaluate")] == PIPELINE.names()[:4]
    assert [s.name for s in PIPELINE.upstream("03_features")] == ["01_eda", "02_preprocess"]
    assert all(set(s.sections) for s in PIPELINE)
