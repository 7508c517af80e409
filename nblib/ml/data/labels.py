"""Label typos: rare misspellings of a frequent label ("electronis" for
"electronics", "hoe" for "home") are folded into it; look-alike labels that
are not clearly typos are only *proposed*.

Similar spelling alone is not evidence of a typo: "parrots" and "sparrows",
"urology" and "virology", "inpatient ward l" and "inpatient ward a" are real,
distinct categories. A merge is *applied* only when every piece of evidence
agrees (see :class:`MergeRareVariants`); a single-edit look-alike that fails
part of it is *proposed*: listed for a person to check, never applied.

:class:`MergeRareVariants` is a transformer, so the merges are learned on the
training rows of each fold like any other fitted step, and the saved model
applies them to new rows. :func:`label_merges` and :func:`label_merges_on`
report what a fit merged (with its evidence) and what it only proposes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["LabelMerges", "MergeRareVariants", "label_merges", "label_merges_on", "single_edit", "label_merges_for"]

_KEYBOARD_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")


def _keyboard_neighbours() -> dict[str, set[str]]:
    """Keys touching each key on a QWERTY keyboard (same row ±1, rows above/below at the same or next column)."""
    out: dict[str, set[str]] = {}
    for r, row in enumerate(_KEYBOARD_ROWS):
        for c, key in enumerate(row):
            near = {row[c - 1]} if c > 0 else set()
            near |= {row[c + 1]} if c + 1 < len(row) else set()
            for other in (r - 1, r + 1):
                if 0 <= other < len(_KEYBOARD_ROWS):
                    # staggered rows: the row above touches columns c, c+1; the row below c-1, c
                    cols = (c, c + 1) if other < r else (c - 1, c)
                    near |= {_KEYBOARD_ROWS[other][k] for k in cols if 0 <= k < len(_KEYBOARD_ROWS[other])}
            out[key] = near
    return out


_NEIGHBOURS = _keyboard_neighbours()


def _adjacent_keys(a: str, b: str) -> bool:
    return b in _NEIGHBOURS.get(a, set())


def single_edit(variant: str, label: str) -> tuple[str, int, str] | None:
    """The one edit that turns ``label`` into ``variant``, or ``None`` when it takes more (or none).

    Returns ``(kind, position, char)``: ``kind`` is ``"dropped"`` (the variant lacks ``label[position]``),
    ``"extra"`` (the variant has ``char`` inserted before ``label[position]``), ``"swapped"``
    (``label[position]`` and ``label[position + 1]`` exchanged) or ``"replaced"`` (``label[position]``
    written as ``char``): a Damerau–Levenshtein distance of exactly 1.

    Examples
    --------
    >>> single_edit("hoe", "home")
    ('dropped', 2, 'm')
    >>> single_edit("sparrows", "parrots") is None
    True
    """
    n, m = len(variant), len(label)
    if variant == label or abs(n - m) > 1:
        return None
    i = 0
    while i < min(n, m) and variant[i] == label[i]:
        i += 1
    if n == m - 1:
        return ("dropped", i, label[i]) if variant[i:] == label[i + 1 :] else None
    if n == m + 1:
        return ("extra", i, variant[i]) if variant[i + 1 :] == label[i:] else None
    if variant[i + 1 :] == label[i + 1 :]:
        return ("replaced", i, variant[i])
    if i + 1 < n and variant[i] == label[i + 1] and variant[i + 1] == label[i] and variant[i + 2 :] == label[i + 2 :]:
        return ("swapped", i, variant[i])
    return None


def _token_at(text: str, position: int) -> tuple[int, int]:
    """Start and end of the run of letters of ``text`` around ``position`` (empty when none)."""
    start = position
    while start > 0 and text[start - 1].isalpha():
        start -= 1
    end = position
    while end < len(text) and text[end].isalpha():
        end += 1
    return start, end


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"[^\W\d_]+", text))


def _describe(kind: str, label: str, position: int, char: str) -> str:
    if kind == "dropped":
        return f"1 letter dropped ({label[position]!r})"
    if kind == "extra":
        return f"1 letter added ({char!r})"
    if kind == "swapped":
        return f"2 letters swapped ({label[position : position + 2]!r})"
    return f"1 letter replaced ({label[position]!r} → {char!r})"


def _assess(variant: str, label: str, vocabulary: dict[str, int], min_word: int) -> tuple[str, list[str]] | None:
    """The edit between two labels and what speaks against it being a typo.

    ``None`` when the two are not one edit apart or the edit makes or alters a whole word
    (a different short token such as 'l' / 'a', or a word other labels of the column use, ``vocabulary``
    counting the labels that hold each word): never merged.
    Otherwise ``(edit, doubts)``: ``doubts`` empty means the edit looks like a slip of the hand.
    """
    a, b = variant.casefold(), label.casefold()
    edit = single_edit(a, b)
    if edit is None:
        return None
    kind, pos, char = edit
    start, end = _token_at(b, min(pos, len(b) - 1) if kind != "extra" else pos)
    if kind == "extra" and start == end and pos > 0:  # inserted right after a token
        start, end = _token_at(b, pos - 1)
    word = b[start:end]
    changed = {"extra": 1, "dropped": -1}.get(kind, 0)
    new_word = a[start : end + changed] if start < end else ""
    if len(word) < 3 or not new_word or vocabulary.get(new_word, 0) > (new_word in _tokens(a)):
        return None  # a whole (short) word changed, or the variant's word is a real word of this column
    doubts = []
    at = pos - start  # the edit's place inside the word
    moved = {b[pos]} if pos < len(b) else set()
    if not (char.isalpha() and all(c.isalpha() for c in moved)):
        doubts.append("the edit is not a letter")
    if len(word) < min_word:
        doubts.append(f"short word ({word!r})")
    if at == 0:
        doubts.append("first letter differs")
    elif kind == "dropped" and at == len(word) - 1:
        doubts.append("last letter dropped (another form of the word?)")
    elif kind == "extra" and at >= len(word):
        doubts.append("letter added at the end (another form of the word?)")
    elif kind in ("dropped", "extra") and char in b[pos - 1 : pos] + (
        b[pos + 1 : pos + 2] if kind == "dropped" else b[pos : pos + 1]
    ):
        doubts.append(f"{char!r} written once / twice (names and places differ this way)")
    elif kind == "replaced":
        if len(word) < min_word + 1:
            doubts.append(f"a replaced letter in a short word ({word!r})")
        if at == len(word) - 1:
            doubts.append("last letter differs")
        if not _adjacent_keys(b[pos], char):
            doubts.append(f"{b[pos]!r} and {char!r} are not neighbouring keys")
    elif kind == "extra" and not (_adjacent_keys(b[pos - 1], char) or _adjacent_keys(b[pos], char)):
        doubts.append(f"added {char!r} is not a neighbouring key")
    return _describe(kind, b, pos, char), doubts


class MergeRareVariants(TransformerMixin, BaseEstimator):
    """Fold rare misspellings into the frequent label they come from.

    A label (the *variant*) is merged into another only when all of this holds:

    - the two are exactly one edit apart (a letter dropped, added, replaced or two swapped;
      Damerau–Levenshtein distance 1, case ignored) and hold the same numbers
      ("brand_006" is not a typo of "brand_001");
    - the edit is inside a word of at least ``min_word`` letters (``min_word + 1`` for a replaced
      letter), not on its first or last letter, and looks like a slip of the hand: a dropped letter,
      a swap, a neighbouring key, an added neighbouring key (not a doubled letter written once or
      twice: "gary" / "garry");
    - the edited word is not a whole word of its own (a different short token such as "ward l" /
      "ward a", or a word other labels of the column use);
    - the variant is rare: at most ``max_share`` of the column's rows, and the label at least
      ``min_ratio`` times as frequent;
    - the label is its only such neighbour, and no two labels of the column of comparable frequency
      (less than ``min_ratio`` apart) are one edit apart: where real values differ by a letter
      ("daryl" / "darryl", "vs1" / "vvs1"), spelling says nothing.

    A one-edit look-alike at least ``proposal_ratio`` times rarer that fails part of this is only
    *proposed* (``proposals_``), with the reasons; proposals are never applied. Two frequent,
    well-formed labels are never merged, however alike ("male" / "female", "parrots" / "sparrows").

    Parameters
    ----------
    min_ratio : float, default=10
        How many times more frequent the label merged into must be.
    max_share : float, default=0.05
        The largest share of the column's (text) rows a variant may hold to be merged.
    min_length : int, default=3
        Shorter labels (codes such as "IA", "IL") are left alone.
    min_word : int, default=4
        Shorter words ("cat" / "car") are only proposed.
    proposal_ratio : float, default=3
        How many times more frequent a label must be for a look-alike to be proposed.

    Attributes
    ----------
    mapping_ : list of dict
        Per input column, ``variant -> label`` (applied merges only).
    evidence_ : list of list of dict
        Per input column, one record per applied merge: ``variant``, ``merged_into``, ``rows``
        (of the variant), ``label_rows`` and ``edit`` (e.g. "1 letter dropped ('m')").
    proposals_ : list of list of dict
        Per input column, look-alikes not merged: the same keys plus ``why_not``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Input column names, when fitted on a DataFrame.

    Examples
    --------
    >>> X = pd.DataFrame({"c": ["home"] * 30 + ["hoe", "toys"] + ["toys"] * 20})
    >>> MergeRareVariants().fit(X).mapping_
    [{'hoe': 'home'}]
    """

    def __init__(self, min_ratio=10.0, max_share=0.05, min_length=3, min_word=4, proposal_ratio=3.0):
        self.min_ratio = min_ratio
        self.max_share = max_share
        self.min_length = min_length
        self.min_word = min_word
        self.proposal_ratio = proposal_ratio

    def fit(self, X, y=None):
        X = self._frame(X, reset=True)
        self.mapping_, self.evidence_, self.proposals_ = [], [], []
        for j in range(X.shape[1]):
            applied, proposed = self._column_merges(X.iloc[:, j])
            self.mapping_.append({m["variant"]: m["merged_into"] for m in applied})
            self.evidence_.append(applied)
            self.proposals_.append(proposed)
        return self

    def transform(self, X):
        check_is_fitted(self, "mapping_")
        X = self._frame(X, reset=False)
        out = X.to_numpy(copy=True)
        if any(self.mapping_):
            out = out.astype(object)
        for j, mapping in enumerate(self.mapping_):
            if mapping:
                column = pd.Series(out[:, j])
                out[:, j] = column.map(lambda v, m=mapping: m.get(v, v) if isinstance(v, str) else v).to_numpy()
        return out

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "mapping_")
        if input_features is None:
            input_features = getattr(self, "feature_names_in_", [f"x{i}" for i in range(self.n_features_in_)])
        return np.asarray(input_features, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        return tags

    def _frame(self, X, reset: bool) -> pd.DataFrame:
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, reset=reset, dtype=None, ensure_all_finite=False, skip_check_array=True)
            return X
        array = validate_data(self, X, reset=reset, dtype=None, ensure_all_finite=False)
        return pd.DataFrame(array)

    def _column_merges(self, column: pd.Series) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        values = column[column.map(lambda v: isinstance(v, str))]
        return self.merges_for_counts(values.value_counts())

    def merges_for_counts(self, counts: pd.Series) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """``(applied, proposed)`` merges for one column given only its label counts (most frequent
        first), as :meth:`fit` finds them: so a table too big for memory is judged from counts
        computed partition by partition.

        >>> MergeRareVariants().merges_for_counts(pd.Series({"home": 30, "toys": 20, "hoe": 1}))[0][0]["variant"]
        'hoe'
        """
        counts = counts.sort_values(ascending=False, kind="stable")
        if len(counts) < 2:
            return [], []
        total = int(counts.sum())
        vocabulary: dict[str, int] = {}  # word -> how many labels (case ignored) hold it
        for label in {str(v).casefold() for v in counts.index}:
            for word in _tokens(label):
                vocabulary[word] = vocabulary.get(word, 0) + 1
        # the labels merged into (the 500 most frequent) by length and numbers: a variant holds the same
        # numbers as its label, so each variant meets only labels of its shape (tail numbers, codes)
        by_shape: dict[tuple[int, tuple[str, ...]], list[str]] = {}
        for label in counts.index[:500]:
            by_shape.setdefault((len(label), tuple(re.findall(r"\d+", label))), []).append(label)
        candidates: dict[str, list[dict[str, Any]]] = {}
        rivals: list[tuple[str, str]] = []
        for variant, n in counts.items():
            if len(variant) < self.min_length or not any(ch.isalpha() for ch in variant):
                continue
            digits = tuple(re.findall(r"\d+", variant))
            for size in (len(variant) - 1, len(variant), len(variant) + 1):
                for label in by_shape.get((size, digits), []):
                    m = int(counts[label])
                    if len(label) < self.min_length or m < n:
                        continue
                    if m < self.proposal_ratio * n:
                        if m < self.min_ratio * n and single_edit(variant.casefold(), label.casefold()):
                            rivals.append((variant, label))  # two real labels one edit apart
                        continue
                    assessed = _assess(variant, label, vocabulary, self.min_word)
                    if assessed is None:
                        continue
                    edit, doubts = assessed
                    if m < self.min_ratio * n:
                        doubts.append(f"not rare enough ({n} rows vs {m})")
                        rivals.append((variant, label))
                    if n > self.max_share * total:
                        doubts.append(f"{n} rows is {n / total:.0%} of the column")
                    candidates.setdefault(variant, []).append(
                        {
                            "variant": variant,
                            "merged_into": label,
                            "rows": int(n),
                            "label_rows": m,
                            "edit": edit,
                            "doubts": doubts,
                        }
                    )
        applied, proposed = [], []
        for options in candidates.values():
            for option in options:
                doubts = option.pop("doubts")
                if rivals and not doubts:
                    a, b = rivals[0]
                    doubts.append(
                        f"labels of this column as frequent as each other differ by one edit too ({a!r} / {b!r})"
                    )
                if len(options) > 1:
                    doubts.append("looks like several labels: " + ", ".join(repr(o["merged_into"]) for o in options))
                if option["merged_into"] in candidates and not doubts:
                    doubts.append(f"{option['merged_into']!r} may itself be a variant")
                (proposed if doubts else applied).append(
                    {**option, **({"why_not": "; ".join(doubts)} if doubts else {})}
                )
        return applied, proposed


@dataclass(frozen=True)
class LabelMerges:
    """What a label-merge fit did: ``applied`` merges (with evidence) and look-alikes only ``proposed``.

    Both tables have ``column``, ``variant``, ``merged_into``, ``rows`` (of the variant), ``label_rows``
    and ``edit``; ``proposed`` adds ``why_not``.
    """

    applied: pd.DataFrame
    proposed: pd.DataFrame

    def records(self) -> dict[str, list[dict[str, Any]]]:
        """``{"label_merges": [...], "label_proposals": [...]}`` for ``cleaning.json``."""
        return {"label_merges": self.applied.to_dict("records"), "label_proposals": self.proposed.to_dict("records")}


_APPLIED = ["column", "variant", "merged_into", "rows", "label_rows", "edit"]
_PROPOSED = [*_APPLIED, "why_not"]


def label_merges(fitted: MergeRareVariants, columns: list[str]) -> LabelMerges:
    """What a fitted merger folds (``applied``) and only proposes (``proposed``), one row per pair."""
    applied = [{"column": c, **m} for c, ms in zip(columns, fitted.evidence_, strict=True) for m in ms]
    proposed = [{"column": c, **m} for c, ms in zip(columns, fitted.proposals_, strict=True) for m in ms]
    return LabelMerges(pd.DataFrame(applied, columns=_APPLIED), pd.DataFrame(proposed, columns=_PROPOSED))


def label_merges_on(frame: pd.DataFrame, columns: list[str], **kwargs: Any) -> LabelMerges:
    """The merges :class:`MergeRareVariants` learns on ``frame`` (the training split) and the ones it only proposes.

    Examples
    --------
    >>> frame = pd.DataFrame({"c": ["home"] * 40 + ["hoe"] * 2})
    >>> label_merges_on(frame, ["c"]).applied[["variant", "merged_into", "rows", "edit"]].to_dict("records")
    [{'variant': 'hoe', 'merged_into': 'home', 'rows': 2, 'edit': "1 letter dropped ('m')"}]
    """
    columns = [c for c in columns if c in frame.columns]
    if not columns:
        return LabelMerges(pd.DataFrame(columns=_APPLIED), pd.DataFrame(columns=_PROPOSED))
    labels = frame[columns].astype(object).where(frame[columns].notna(), None)
    labels = labels.map(lambda v: v if v is None or isinstance(v, str) else str(v))
    return label_merges(MergeRareVariants(**kwargs).fit(labels), columns)


def label_merges_for(frame: pd.DataFrame, roles: Any, enabled: bool = True) -> LabelMerges:
    """:func:`label_merges_on` the categorical and high-cardinality columns of ``roles``
    (a :class:`~nblib.ml.data.preprocess.ColumnRoles`); empty tables when merging is off
    (``preprocess.merge_label_variants: false``)."""
    columns = list(roles.categorical) + list(roles.high_cardinality) if enabled else []
    return label_merges_on(frame, columns)
