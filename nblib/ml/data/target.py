"""The target as the user wrote it: labels in any spelling, the positive class,
and the integer codes the models are trained on.

Class labels are compared without case or surrounding spaces ("Yes", "yes ",
"YES" are one class, shown in its most frequent spelling). For two classes the
positive one is named by ``data.positive_class`` or inferred when the pair is
unambiguous (yes/no, true/false, y/n, 1/0, positive/negative ...). Models see
codes ``0 .. k-1`` in the order of :attr:`TargetEncoding.classes`; for two
classes the positive class is code 1.

>>> enc = encode_target(pd.Series(["Yes", "no", "No ", "Yes", "no"]))
>>> enc.classes, enc.positive_class, enc.codes.tolist()
(['no', 'Yes'], 'Yes', [1, 0, 0, 1, 0])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "TargetEncoding",
    "TargetError",
    "class_labels",
    "infer_positive_class",
    "encode_target",
    "label_key",
    "prepare_target",
    "prepare_target_column",
]

# Pairs whose positive member is obvious; compared as normalized text.
_POSITIVE_NAMES = {
    "1": "0",
    "1.0": "0.0",
    "true": "false",
    "yes": "no",
    "y": "n",
    "t": "f",
    "positive": "negative",
    "pos": "neg",
    "+": "-",
    "success": "failure",
    "pass": "fail",
    "hit": "miss",
}


class TargetError(ValueError):
    """The target cannot serve the task as given (a one-line reason)."""


@dataclass
class TargetEncoding:
    """How class labels map to the codes models are trained on."""

    classes: list[Any]
    positive_class: Any = None
    codes: pd.Series = field(default=None, repr=False)
    merged: dict[str, list[str]] = field(default_factory=dict)

    @property
    def binary(self) -> bool:
        return len(self.classes) == 2

    def to_dict(self) -> dict[str, Any]:
        return {"classes": self.classes, "positive_class": self.positive_class, "merged_spellings": self.merged}

    def decode(self, codes) -> np.ndarray:
        """Codes back to the user's labels."""
        return np.asarray(self.classes, dtype=object)[np.asarray(codes, dtype=int)]


def label_key(value: Any) -> str:
    """How two spellings of a label are compared: text without case or extra spaces.

    Whole numbers compare equal to their float spelling (``1`` and ``1.0``).
    """
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).casefold()
    if isinstance(value, (int, float, np.integer, np.floating)) and float(value).is_integer():
        return str(int(value))
    return " ".join(str(value).split()).casefold()


def class_labels(y: pd.Series) -> tuple[dict[str, Any], dict[str, int], dict[str, list[str]]]:
    """The distinct classes of ``y`` (missing values left out).

    Returns
    -------
    shown : dict
        key → the label as shown (its most frequent spelling).
    counts : dict
        key → rows.
    merged : dict
        shown label → the other spellings folded into it.
    """
    y = y.dropna()
    keys = y.map(label_key)
    counts = keys.value_counts()
    shown, merged = {}, {}
    for key in counts.index:
        spellings = y[keys == key].value_counts()
        shown[key] = _plain(spellings.index[0])
        if len(spellings) > 1:
            merged[str(shown[key])] = [str(v) for v in spellings.index[1:]]
    return shown, {k: int(v) for k, v in counts.items()}, merged


def infer_positive_class(labels: list[Any]) -> Any | None:
    """The positive label of an unambiguous pair (yes/no, true/false, 1/0 ...), else None.

    >>> infer_positive_class(["No", "Yes"]), infer_positive_class(["good", "bad"])
    ('Yes', None)
    """
    if len(labels) != 2:
        return None
    keys = {label_key(v): v for v in labels}
    for positive, negative in _POSITIVE_NAMES.items():
        if set(keys) == {positive, negative}:
            return keys[positive]
    return None


def encode_target(y: pd.Series, positive_class: Any = None) -> TargetEncoding:
    """Map labels to codes; see the module docstring.

    Parameters
    ----------
    y : Series
        Class labels (rows with a missing target must be removed first).
    positive_class : optional
        The positive label for two classes; required when it cannot be inferred.

    Raises
    ------
    TargetError
        Fewer than two classes, a positive class that is not a label, or two
        classes of which neither is obviously positive.
    """
    shown, counts, merged = class_labels(y)
    if len(shown) < 2:
        raise TargetError(
            f"classification needs at least 2 classes, found {len(shown)} ({', '.join(map(repr, shown.values()))})"
        )
    if len(shown) == 2:
        positive_key = _positive_key(shown, positive_class)
        negative_key = next(k for k in shown if k != positive_key)
        order = [negative_key, positive_key]
        positive = shown[positive_key]
    else:
        if positive_class is not None:
            raise TargetError(
                f"data.positive_class is for two classes; this target has {len(shown)} "
                f"({_listing(shown, counts)}); remove the key"
            )
        order = sorted(shown, key=lambda k: _sort_key(shown[k]))
        positive = None
    code_of = {k: i for i, k in enumerate(order)}
    codes = y.map(label_key).map(code_of).astype(int)
    return TargetEncoding(classes=[shown[k] for k in order], positive_class=positive, codes=codes, merged=merged)


# --------------------------------------------------------------------------- helpers


def _positive_key(shown: dict[str, Any], positive_class: Any) -> str:
    if positive_class is not None:
        key = label_key(positive_class)
        if key not in shown:
            raise TargetError(
                f"data.positive_class {positive_class!r} is not a class of the target; "
                f"classes: {', '.join(map(repr, shown.values()))}"
            )
        return key
    inferred = infer_positive_class(list(shown.values()))
    if inferred is None:
        labels = " or ".join(repr(v) for v in shown.values())
        raise TargetError(
            f"two classes ({labels}) and neither is obviously positive; set data.positive_class to {labels}"
        )
    return label_key(inferred)


def _listing(shown: dict[str, Any], counts: dict[str, int], limit: int = 8) -> str:
    items = [f"{shown[k]!r} ({counts[k]})" for k in list(shown)[:limit]]
    return ", ".join(items) + (" ..." if len(shown) > limit else "")


def _sort_key(value: Any) -> tuple:
    return (0, float(value), "") if isinstance(value, (int, float, np.integer, np.floating)) else (1, 0.0, str(value))


def _plain(value: Any) -> Any:
    """A label as a JSON-ready Python value."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def prepare_target(y: pd.Series, task: str, positive_class: Any = None) -> tuple[pd.Series, dict[str, Any]]:
    """The target as models see it, and what a reader and ``predict`` need to know about it.

    Classification: class codes (see :func:`encode_target`) and ``{"classes",
    "positive_class", "merged_spellings"}``. Regression: floats, numbers
    written as text ("$1,200") read as numbers, and ``{}``.
    """
    if task == "classification":
        encoding = encode_target(y, positive_class)
        return encoding.codes.rename(y.name), encoding.to_dict()
    if pd.api.types.is_numeric_dtype(y):
        return y.astype(float), {}
    from nblib.ml.data.parse import parse_numbers

    return parse_numbers(y), {"read_as_numbers": True}


def prepare_target_column(
    frame: pd.DataFrame, target: str, task: str, positive_class: Any = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``frame`` with its ``target`` column replaced by :func:`prepare_target`'s encoding,
    and what the encoding found (classes, positive class); ``frame`` itself is not changed.

    >>> clean, info = prepare_target_column(pd.DataFrame({"y": ["no", "yes", "no"]}), "y", "classification")
    >>> clean["y"].tolist(), info["positive_class"]
    ([0, 1, 0], 'yes')
    """
    y, info = prepare_target(frame[target], task, positive_class)
    return frame.assign(**{target: y}), info
