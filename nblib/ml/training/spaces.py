"""Search spaces: each model family's hyperparameter ranges, as its entry in the family registry
(:data:`nblib.ml.training.families.FAMILIES`) declares them.

A space maps a hyperparameter name (as the estimator spells it, without the
``model__`` pipeline prefix) to a spec, either

* a list of values (categorical), e.g. ``[None, 8, 16]``, or
* a range ``{"low": a, "high": b, "log": bool, "int": bool}`` (``log`` and ``int``
  default to False).

Params may narrow a declared space (``train.search.spaces[family]``): an entry
replaces the declared one (a list, a range, or one value to fix it); a range
that gives only ``low`` or ``high`` keeps the declared other bound. Only
declared names may be narrowed. This module (and the family registry) does not import
scikit-learn, so the params validator can use :func:`check_narrowing`.
"""

from __future__ import annotations

import math
from typing import Any

from nblib.common.text import suggest
from nblib.ml.training.families import FAMILIES

__all__ = ["SPACES", "check_narrowing", "grid_of", "space_families", "space_for"]

_RANGE_KEYS = ("low", "high", "log", "int")

#: ``(family, task) -> space``, from the family registry.
SPACES: dict[tuple[str, str], dict[str, Any]] = {key: f.space for key, f in FAMILIES.items() if f.space is not None}


def space_families(task: str) -> list[str]:
    """Families with a declared search space for ``task``.

    >>> space_families("regression")
    ['extra_trees', 'gradient_boosting_deep', 'hist_gradient_boosting', 'lightgbm', 'mlp', 'random_forest', 'ridge']
    """
    return sorted({name for name, t in SPACES if t == task})


def space_for(family: str, task: str, narrowing: dict[str, Any] | None = None) -> dict[str, Any]:
    """The declared space of ``family`` for ``task``, narrowed by params.

    Parameters
    ----------
    family : str
        A family with a declared space (:func:`space_families`).
    task : {"classification", "regression"}
    narrowing : dict, optional
        ``train.search.spaces[family]``: hyperparameter -> list, range, or one value.

    Returns
    -------
    dict
        Hyperparameter -> spec; ranges always carry all of ``low, high, log, int``.

    Raises
    ------
    ValueError
        When the family has no space, or the narrowing names an undeclared
        hyperparameter or gives an invalid spec.

    Examples
    --------
    >>> space_for("ridge", "regression", {"alpha": {"high": 10}})
    {'alpha': {'low': 0.001, 'high': 10, 'log': True, 'int': False}}
    >>> space_for("ridge", "regression", {"alpah": [1.0]})
    Traceback (most recent call last):
    ...
    ValueError: train.search.spaces.ridge.alpah: not a searched hyperparameter of ridge (did you mean 'alpha'?)
    """
    declared = _declared(family, task)
    if declared is None:
        raise ValueError(
            f"train.search.spaces: no search space declared for {family!r} ({task}); "
            f"families with one: {space_families(task)}"
        )
    space = {name: _normalized(spec) for name, spec in declared.items()}
    for name, spec in (narrowing or {}).items():
        where = f"train.search.spaces.{family}.{name}"
        if name not in space:
            raise ValueError(f"{where}: not a searched hyperparameter of {family}{_did_you_mean(name, space)}")
        merged, reason = _narrowed(space[name], spec)
        if reason:
            raise ValueError(f"{where}: {reason}")
        space[name] = merged
    return space


def check_narrowing(family: str, task: str, narrowing: dict[str, Any] | None) -> str | None:
    """Why ``narrowing`` cannot narrow the space of ``family``, in one line; None if it can.

    >>> check_narrowing("hist_gradient_boosting", "classification", {"learning_rate": {"low": 0.05}})
    >>> check_narrowing("ridge", "regression", {"alpah": [8]})
    "train.search.spaces.ridge.alpah: not a searched hyperparameter of ridge (did you mean 'alpha'?)"
    """
    try:
        space_for(family, task, narrowing)
    except ValueError as exc:
        return str(exc)
    return None


def grid_of(space: dict[str, Any], points_per_range: int = 3) -> dict[str, list]:
    """A grid for grid search: categorical lists as they are, ranges as evenly spaced points.

    Log ranges are spaced geometrically; integer ranges are rounded and deduplicated;
    floats are rounded to three significant digits.

    >>> grid_of({"C": {"low": 0.01, "high": 100, "log": True}, "kind": ["a", "b"]})
    {'C': [0.01, 1.0, 100.0], 'kind': ['a', 'b']}
    >>> grid_of({"leaves": {"low": 4, "high": 64, "log": True, "int": True}}, points_per_range=4)
    {'leaves': [4, 10, 25, 64]}
    """
    if points_per_range < 1:
        raise ValueError(f"points_per_range must be at least 1; got {points_per_range}")
    grid = {}
    for name, spec in space.items():
        spec = _normalized(spec)
        if isinstance(spec, list):
            grid[name] = list(spec)
            continue
        low, high, n = spec["low"], spec["high"], points_per_range
        if n == 1:
            points = [math.sqrt(low * high) if spec["log"] else (low + high) / 2]
        elif spec["log"]:
            points = [math.exp(math.log(low) + i * (math.log(high) - math.log(low)) / (n - 1)) for i in range(n)]
        else:
            points = [low + i * (high - low) / (n - 1) for i in range(n)]
        if spec["int"]:
            grid[name] = sorted({round(p) for p in points})
        else:
            grid[name] = [_round3(p) for p in points]
    return grid


# --------------------------------------------------------------------------- helpers


def _declared(family: str, task: str) -> dict[str, Any] | None:
    return SPACES.get((family, task))


def _normalized(spec: Any) -> Any:
    """A copy of ``spec``: ranges with every key, categorical values with lists as tuples."""
    if isinstance(spec, dict):
        return {
            "low": spec["low"],
            "high": spec["high"],
            "log": bool(spec.get("log", False)),
            "int": bool(spec.get("int", False)),
        }
    return [tuple(v) if isinstance(v, list) else v for v in spec]


def _narrowed(declared: Any, spec: Any) -> tuple[Any, str | None]:
    """``declared`` with ``spec`` applied, or a reason why it cannot be."""
    if isinstance(spec, (list, tuple)):
        if not spec:
            return None, "an empty list of values"
        return _normalized(list(spec)), None
    if not isinstance(spec, dict):
        return [spec], None  # one value: the hyperparameter is fixed
    unknown = [k for k in spec if k not in _RANGE_KEYS]
    if unknown:
        return None, f"unknown range key {unknown[0]!r}; a range takes {', '.join(_RANGE_KEYS)}"
    base = declared if isinstance(declared, dict) else {}
    if ("low" not in spec and "low" not in base) or ("high" not in spec and "high" not in base):
        return None, "a range needs both low and high (the declared values are a list)"
    merged = {
        "low": spec.get("low", base.get("low")),
        "high": spec.get("high", base.get("high")),
        "log": bool(spec.get("log", base.get("log", False))),
        "int": bool(spec.get("int", base.get("int", False))),
    }
    for key in ("low", "high"):
        value = merged[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return None, f"{key} must be a finite number; got {value!r}"
    if merged["low"] > merged["high"]:
        return None, f"low {merged['low']} is above high {merged['high']}"
    if merged["log"] and merged["low"] <= 0:
        return None, f"a log range needs low > 0; got {merged['low']}"
    return merged, None


def _did_you_mean(name: str, names) -> str:
    return suggest(name, names) or f" (searched: {', '.join(sorted(names))})"


def _round3(value: float) -> float:
    return float(f"{value:.3g}")
