"""Text for people and for file names: "did you mean", one-line messages and safe slugs.

Each helper exists once in nblib; every layer imports it from here.

>>> suggest("cv_fold", ["cv_folds", "seed"])
" (did you mean 'cv_folds'?)"
>>> one_line(ValueError("bad value\\n  at line 3"))
'bad value at line 3'
>>> slug("by_../../tmp/x")
'by__tmp_x'
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Iterable

__all__ = ["is_glob", "suggest", "one_line", "clip", "slug"]

#: Words longer than this get no suggestion (difflib is quadratic, and such a word is no typo).
SUGGEST_MAX_CHARS = 320


def suggest(word: object, choices: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the choice closest to ``word``, or ``""`` when none is close.

    Parameters
    ----------
    word : object
        What the user wrote; anything but a string of at most :data:`SUGGEST_MAX_CHARS`
        characters gets no suggestion.
    choices : iterable of str
        The valid names.

    Returns
    -------
    str
        Text to append to a message (it starts with a space), or ``""``.

    Examples
    --------
    >>> suggest("alpah", ["alpha", "l1_ratio"])
    " (did you mean 'alpha'?)"
    >>> suggest("zzz", ["alpha"])
    ''
    """
    if not isinstance(word, str) or len(word) > SUGGEST_MAX_CHARS:
        return ""
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters in the middle (``" … "``), keeping its start and its end.

    The end of a message often says the most (``Connection refused``), so both ends stay.

    Examples
    --------
    >>> clip("abcdefghijklmnopqrstuvwxyz", 12)
    'abcdef … xyz'
    >>> clip("short", 12)
    'short'
    """
    if len(text) <= limit:
        return text
    if limit < 5:  # no room for both ends
        return text[:limit]
    keep = limit - 3
    head = keep * 2 // 3
    return f"{text[:head]} … {text[len(text) - (keep - head) :]}"


def one_line(value: object, limit: int | None = None, *, first: bool = False, typed: bool = False) -> str:
    """A message or an exception as one line of readable length.

    Parameters
    ----------
    value : object
        The message, or an exception (one without a message reads as its type name).
    limit : int, optional
        At most this many characters, cut in the middle (:func:`clip`).
    first : bool
        Keep only the first non-blank line (the headline of a long, multi-line message);
        otherwise every line is kept, joined by spaces.
    typed : bool
        Start an exception's text with its type: ``ValueError: bad value``.

    Returns
    -------
    str
        Runs of whitespace, line breaks included, become one space.

    Examples
    --------
    >>> one_line(KeyError())
    'KeyError'
    >>> one_line(RuntimeError("first\\nsecond"), first=True, typed=True)
    'RuntimeError: first'
    >>> one_line("x" * 30, 12)
    'xxxxxx … xxx'
    """
    text = str(value)
    if isinstance(value, BaseException) and typed:
        text = f"{type(value).__name__}: {text}"
    if first:
        text = next((line for line in text.splitlines() if line.strip()), "")
    text = " ".join(text.split())
    if not text and isinstance(value, BaseException):
        text = type(value).__name__
    return text if limit is None else clip(text, limit)


def slug(
    text: object,
    *,
    allowed: str = "A-Za-z0-9_-",
    sep: str = "_",
    limit: int | None = None,
    default: str = "x",
    unique: bool = False,
) -> str:
    """A name made from anything (a column, a label) that is safe as a file name or an identifier.

    Every run of characters outside ``allowed`` becomes ``sep``; ``-``, ``_`` and ``.`` are
    stripped from both ends, so the name is never hidden (``.x``) and never climbs out of its
    folder (``..``); then it is cut to ``limit`` characters. It is never empty.

    Parameters
    ----------
    text : object
        Anything; ``str(text)`` is used.
    allowed : str
        The characters kept, as the inside of a regular-expression class: ASCII letters,
        digits, ``_`` and ``-`` by default; ``r"\\w."`` keeps letters of any script and dots.
    sep : str
        What each run of other characters becomes.
    limit : int, optional
        At most this many characters (before the ``unique`` suffix).
    default : str
        The name when nothing is left.
    unique : bool
        When the slug differs from the text, append ``-`` and 6 hex digits of the text's
        SHA-256, so that two names that differ only in dropped characters stay apart.

    Examples
    --------
    >>> slug("by_../../../../tmp/x", limit=80, unique=True)
    'by__tmp_x-5b10ae'
    >>> slug("price", unique=True)
    'price'
    >>> slug("smoke-models={dummy: {}}", allowed=r"\\w.", sep="-")
    'smoke-models-dummy'
    >>> slug("???", default="col")
    'col'
    """
    raw = str(text)
    name = re.sub(f"[^{allowed}]+", sep, raw).strip("_-.")
    name = (name[:limit] if limit is not None else name) or default
    if unique and name != raw:
        name = f"{name}-{hashlib.sha256(raw.encode()).hexdigest()[:6]}"
    return name


def is_glob(text: str) -> bool:
    """Whether a path holds glob characters (``data/part-*.parquet``): a pattern of files, not one.

    >>> is_glob("data/part-*.parquet"), is_glob("data/table.csv")
    (True, False)
    """
    return any(c in text for c in "*?[")
