"""Typed records that travel between stages as JSON, and the one way they fail on a missing key.

:class:`Promotion` is ``artifacts/promotion.json``: whether this run's model replaces the
registry's champion, with the evidence. The training records live beside the code that makes
them (:class:`nblib.ml.training.cv.CVResult`, :class:`nblib.ml.training.threshold.ThresholdChoice`,
:class:`nblib.ml.training.search.SearchResult`); each has ``to_dict`` and ``from_dict``, and
``from_dict`` on a record that lacks a required key raises :class:`RecordError` naming it.

>>> Promotion.from_dict({"decision": "keep", "reason": "not better", "test": None}).to_dict()
{'decision': 'keep', 'reason': 'not better', 'test': None}
>>> Promotion.from_dict({"reason": "x"})
Traceback (most recent call last):
...
nblib.ml.evaluation.records.RecordError: promotion.json: missing key 'decision'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["RecordError", "require_keys", "Promotion", "DECISIONS", "ABSENT"]

#: What a promotion decision can be.
DECISIONS = ("promote", "keep", "refused", "leak", "unknown", "not asked")


class RecordError(ValueError):
    """A record read from JSON lacks a key it must have, or holds a value it cannot."""


def require_keys(data: Any, keys: Iterable[str], what: str) -> dict[str, Any]:
    """``data`` itself when it is a mapping holding every one of ``keys``; else :class:`RecordError`.

    >>> require_keys({"a": 1}, ("a", "b"), "cv_results.json")
    Traceback (most recent call last):
    ...
    nblib.ml.evaluation.records.RecordError: cv_results.json: missing key 'b'
    """
    if not isinstance(data, dict):
        raise RecordError(f"{what}: expected a JSON object, got {type(data).__name__}")
    missing = [key for key in keys if key not in data]
    if missing:
        raise RecordError(f"{what}: missing key{'s' if len(missing) > 1 else ''} {', '.join(repr(k) for k in missing)}")
    return data


class _Absent:
    """Marks an optional key that the record does not hold (``None`` is a value: JSON ``null``)."""

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False


#: The value of an optional field whose key the record does not hold.
ABSENT: Any = _Absent()


@dataclass
class Promotion:
    """``promotion.json``: the champion/challenger decision and its evidence.

    Only ``decision`` and ``reason`` are required; every other key is written only when the
    record holds it (:data:`ABSENT` otherwise). Keys are written in the order of the fields, or
    in the order :meth:`from_dict` read them, so a record reads back to the same JSON.

    Attributes
    ----------
    asked : bool
        ``evaluate.promote`` was on.
    model_name : str
        The registered model.
    metric : str
        The primary metric the paired test compares.
    level : float
        Its significance level (``evaluate.promote_level``).
    challenger, champion : dict
        This run's fingerprints and value; the champion's version, run and fingerprints.
    decision : {"promote", "keep", "refused", "leak", "unknown", "not asked"}
    leak_columns : list of str
        The likely leaks that kept the model from being promoted (decision ``leak``).
    reason : str
        The decision in words, for pages and the terminal.
    test : dict or None
        The paired test of challenger − champion (``diff``, ``lo``, ``hi``, ``p_value``, ``test``).
    promoted, gated : bool
        Set by tracking once the alias moved (or did not), and whether that gates the run.
    """

    asked: Any = ABSENT
    model_name: Any = ABSENT
    metric: Any = ABSENT
    level: Any = ABSENT
    challenger: Any = ABSENT
    champion: Any = ABSENT
    decision: str = ""
    leak_columns: Any = ABSENT
    reason: str = ""
    test: Any = ABSENT
    promoted: Any = ABSENT
    gated: Any = ABSENT
    _order: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise RecordError(f"promotion.json: decision must be one of {', '.join(DECISIONS)}; got {self.decision!r}")

    @property
    def promote(self) -> bool:
        """Whether the decision is to make this run's model the champion."""
        return self.decision == "promote"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the keys the record holds, in the order read (else in field order)."""
        names = [f.name for f in fields(self) if f.name != "_order"]
        order = [*[n for n in self._order if n in names], *[n for n in names if n not in self._order]]
        return {name: getattr(self, name) for name in order if getattr(self, name) is not ABSENT}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Promotion:
        """The record :meth:`to_dict` (or tracking) wrote; :class:`RecordError` without ``decision`` or
        ``reason``. Unknown keys are refused too, so that a renamed key fails in a test."""
        require_keys(data, ("decision", "reason"), "promotion.json")
        names = {f.name for f in fields(cls)} - {"_order"}
        unknown = [k for k in data if k not in names]
        if unknown:
            raise RecordError(f"promotion.json: unknown key {unknown[0]!r}")
        return cls(**data, _order=tuple(data))
