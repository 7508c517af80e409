"""What ``03_features`` stores about the fitted feature transformer (``features.json``)."""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["summary_record"]


def summary_record(Xt: Any, branches: pd.DataFrame, notes: list[str]) -> dict[str, Any]:
    """``n_features`` (columns of the transformed training matrix ``Xt``), ``branches`` (rows of
    :func:`~nblib.ml.features.describe_features`) and ``notes`` (:func:`~nblib.ml.features.text_notes`).

    >>> import numpy as np
    >>> table = pd.DataFrame({"features": [3]}, index=pd.Index(["num"], name="branch"))
    >>> summary_record(np.zeros((2, 3)), table, [])
    {'n_features': 3, 'branches': [{'branch': 'num', 'features': 3}], 'notes': []}
    """
    return {"n_features": int(Xt.shape[1]), "branches": branches.reset_index().to_dict("records"), "notes": notes}
