"""Values as JSON: numpy and pandas scalars, arrays, paths, dates, NaN and infinity.

:func:`jsonable` turns a nested value into plain JSON data (NaN and infinity become
``null``, which strict JSON readers and browsers accept); :func:`json_default` is the
``default=`` hook for :func:`json.dumps` that converts only what the json module cannot
write; :func:`finite` is a number or ``None``.

numpy and pandas are never imported here: a value can only be one of theirs when the
caller has imported them already.

>>> import json, math
>>> json.dumps(jsonable({"auc": math.nan, "folds": (1, 2)}))
'{"auc": null, "folds": [1, 2]}'
"""

from __future__ import annotations

import datetime as dt
import math
import sys
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

__all__ = ["jsonable", "json_default", "finite"]


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data, recursively.

    numpy scalars become Python numbers, arrays, Series and Index become lists, tuples
    and sets become lists, paths become POSIX strings, dates ISO strings; NaN, infinity,
    ``pd.NA`` and ``NaT`` become ``None``; mapping keys that are numpy scalars or paths
    become Python values. Anything else is returned as it is (``json.dumps`` will say so).

    Parameters
    ----------
    value : Any
        A nested structure of dicts, lists, tuples and scalars.

    Returns
    -------
    Any
        The same structure made of ``dict``, ``list``, ``str``, ``int``, ``float``, ``bool`` and ``None``.

    Examples
    --------
    >>> from pathlib import Path
    >>> jsonable({"inf": float("inf"), "p": Path("a/b"), "s": {3}})
    {'inf': None, 'p': 'a/b', 's': [3]}
    """
    value = _scalar(value)
    if isinstance(value, Mapping):
        return {_scalar(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_default(value: Any) -> Any:
    """The ``default=`` hook of :func:`json.dumps`: numpy values, arrays, paths and dates as JSON.

    Floats are left to the json module (it writes ``NaN`` as ``NaN``); use :func:`jsonable`
    first for strict JSON.

    Raises
    ------
    TypeError
        For a value it cannot convert, naming its type.

    Examples
    --------
    >>> import json
    >>> from pathlib import Path
    >>> json.dumps({"p": Path("a")}, default=json_default)
    '{"p": "a"}'
    >>> json.dumps({"x": object()}, default=json_default)
    Traceback (most recent call last):
    ...
    TypeError: not JSON serializable: object
    """
    converted = _scalar(value)
    if converted is value:
        raise TypeError(f"not JSON serializable: {type(value).__name__}")
    return converted


def finite(value: Any) -> float | None:
    """``value`` as a float, or ``None`` when it is missing, NaN or infinite.

    Examples
    --------
    >>> finite(0.5), finite(float("nan")), finite(None)
    (0.5, None, None)
    """
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _scalar(value: Any) -> Any:
    """One value converted when numpy, pandas, a path or a date; anything else unchanged."""
    if isinstance(value, (str, int, float, bool)) and type(value) in (str, int, float, bool):
        return value
    if isinstance(value, PurePath):
        return value.as_posix()
    pd = sys.modules.get("pandas")
    if pd is not None and (value is pd.NA or value is pd.NaT):
        return None
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # arrays, Series, Index, Categorical
        return value.tolist()
    return value
