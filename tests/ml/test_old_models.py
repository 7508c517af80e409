"""A model saved before the ``nblib.ml`` sub-packages existed (flat class paths such as
``nblib.ml.nn.MLPClassifier`` and ``nblib.ml.preprocess.as_str``) still loads and predicts the same."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio

from nblib.ml import MOVED
from nblib.ml.saved import TRUSTED_TYPES

DATA = Path(__file__).parent.parent / "data"


def test_a_model_saved_before_the_move_loads_and_predicts_as_it_did():
    pytest.importorskip("torch")
    path = DATA / "model_before_house.skops"
    named = set(sio.get_untrusted_types(file=path))
    assert {"nblib.ml.nn.MLPClassifier", "nblib.ml.preprocess.as_str", "nblib.ml.features.TextTfidf"} <= named
    assert named <= set(TRUSTED_TYPES)
    model = sio.load(path, trusted=list(TRUSTED_TYPES))
    rows = pd.read_parquet(DATA / "model_before_house_rows.parquet")
    expected = json.loads((DATA / "model_before_house.json").read_text())["proba"]
    assert np.allclose(model.predict_proba(rows)[:, 1], expected, atol=1e-6)


def test_an_old_module_path_is_the_new_module():
    import importlib

    for old, new in MOVED.items():
        assert importlib.import_module(old) is importlib.import_module(new)
    from nblib.ml.nn import MLPClassifier  # noqa: F401 (the old path imports)
    from nblib.ml.training.nn import MLPClassifier as New

    assert MLPClassifier is New
    assert "nblib.ml.training.nn.MLPClassifier" in TRUSTED_TYPES and "nblib.ml.nn.MLPClassifier" in TRUSTED_TYPES
