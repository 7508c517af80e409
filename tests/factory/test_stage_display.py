"""StageContext helpers a notebook calls to show what the library returns, without branching:
show_all, display_all, say, read_optional, and write(None) for an optional output."""

from pathlib import Path

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

from nblib.factory.params import load_params  # noqa: E402
from nblib.factory.pipeline import PIPELINE  # noqa: E402
from nblib.factory.stage import StageContext  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def params():
    return load_params(ROOT / "params" / "smoke.yaml")


def _ctx(name, tmp_path, params):
    (tmp_path / "artifacts").mkdir(exist_ok=True)
    return StageContext(PIPELINE[name], tmp_path, params)


def _figure():
    fig = Figure()
    fig.subplots().plot([0, 1], [0, 1])
    return fig


def test_show_all_saves_each_figure_under_its_name(tmp_path, params, capsys):
    ctx = _ctx("05_evaluate", tmp_path, params)
    ctx.show_all({"roc": _figure(), "by_$x/../y": _figure()}, empty="nothing to show")
    saved = sorted(p.name for p in (tmp_path / "artifacts" / "figures" / "05_evaluate").glob("*.png"))
    assert saved[-1] == "roc.png" and len(saved) == 2 and not saved[0].startswith(".")
    assert "nothing to show" not in capsys.readouterr().out


def test_show_all_of_nothing_prints_the_empty_note(tmp_path, params, capsys):
    ctx = _ctx("04_train", tmp_path, params)
    ctx.show_all({}, empty="no hyperparameter search")
    assert capsys.readouterr().out == "no hyperparameter search\n"
    ctx.show_all({})
    assert capsys.readouterr().out == ""
    assert not (tmp_path / "artifacts" / "figures").exists()


def test_display_all_and_say(capsys):
    StageContext.display_all([], empty="no ensemble")
    StageContext.say("first", None, "", "second")
    assert capsys.readouterr().out == "no ensemble\nfirst\nsecond\n"
    StageContext.display_all([pd.DataFrame({"a": [1]})], empty="no ensemble")
    out = capsys.readouterr().out
    assert "no ensemble" not in out and "a" in out


def test_write_none_skips_an_optional_output_only(tmp_path, params):
    ctx = _ctx("01_eda", tmp_path, params)
    assert ctx.write("oracle", None) is None
    assert not (tmp_path / "artifacts" / "oracle.parquet").exists()
    with pytest.raises(Exception):  # noqa: B017 - a required output is never skipped silently
        ctx.write("raw", None)
    assert ctx.write("oracle", pd.DataFrame({"true_proba": [0.5]})).exists()


def test_read_optional_is_none_when_not_written(tmp_path, params):
    ctx = _ctx("05_evaluate", tmp_path, params)
    assert ctx.read_optional("oracle") is None
    _ctx("01_eda", tmp_path, params).write("oracle", pd.DataFrame({"true_proba": [0.25]}))
    assert ctx.read_optional("oracle")["true_proba"].tolist() == [0.25]
    with pytest.raises(KeyError):
        ctx.read_optional("model_card_not_declared")
