"""The one Jinja environment of the run pages and the model card (``nblib/factory/templates``).

HTML templates (``*.html.j2``) are autoescaped; Markdown ones (``*.md.j2``) have every
value escaped for Markdown instead (:func:`nblib.ml.evaluation.explain.md`), so text from
data never becomes markup in either. Undefined names and attributes render as nothing.

Filters: ``fmt`` (a value as a page shows it, ``—`` for none), ``num`` (a number with
``digits`` decimals, ``–`` for none or NaN), ``secs`` (seconds, one decimal) and
``signed`` (a change with its sign).

>>> template("index.html.j2").name
'index.html.j2'
"""

from __future__ import annotations

import math
from typing import Any

import jinja2

__all__ = ["environment", "source_environment", "template"]

_ENV: jinja2.Environment | None = None


def environment() -> jinja2.Environment:
    """The shared environment, built on first use."""
    global _ENV
    if _ENV is None:
        env = jinja2.Environment(
            loader=jinja2.PackageLoader("nblib.factory", "templates"),
            autoescape=_is_html,
            finalize=_finalize,
            undefined=jinja2.ChainableUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        env.filters.update(fmt=_fmt, num=_num, secs=_secs, signed=_signed)
        _ENV = env
    return _ENV


#: Environments for source files nblib writes, by kind (``python``: a DAG; ``yaml``: a workflow).
_SOURCE: dict[str, jinja2.Environment] = {}


def source_environment(kind: str, filters: dict[str, Any]) -> jinja2.Environment:
    """The environment for a source file nblib writes (``kind``: ``python`` or ``yaml``), built on first use.

    Nothing is escaped for HTML: every value goes through the ``filters`` the caller gives (a Python or YAML
    literal), and an undefined name is an error. YAML templates use ``[[ ]]`` and ``[% %]``, so that
    GitHub's own ``${{ }}`` stays as written.

    >>> source_environment("yaml", {}).from_string("a: [[ x ]] ${{ y }}").render(x=1)
    'a: 1 ${{ y }}'
    """
    if kind not in _SOURCE:
        marks = (
            {"variable_start_string": "[[", "variable_end_string": "]]", "block_start_string": "[%",
             "block_end_string": "%]"}
            if kind == "yaml"
            else {}
        )  # fmt: skip
        env = jinja2.Environment(
            loader=jinja2.PackageLoader("nblib.factory", "templates"),
            autoescape=False,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            **marks,
        )
        _SOURCE[kind] = env
    _SOURCE[kind].filters.update(filters)  # each caller's, whoever built it first
    return _SOURCE[kind]


def template(name: str) -> jinja2.Template:
    """The template ``name`` from ``nblib/factory/templates``."""
    return environment().get_template(name)


def _is_html(name: str | None) -> bool:
    return not (name or "").endswith(".md.j2")


@jinja2.pass_eval_context
def _finalize(eval_ctx: Any, value: Any) -> Any:
    """HTML is escaped by autoescape; in Markdown every value is escaped here."""
    if eval_ctx.autoescape:
        return value
    from nblib.ml.evaluation.explain import md

    return md("" if value is None else value)


def _fmt(value: Any) -> str:
    """A value as a page shows it (the template escapes it)."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) >= 1000 else f"{value:.4f}"
    return str(value)


def _num(value: Any, digits: int = 4) -> str:
    """A number with ``digits`` decimals (integers as they are); ``–`` for none or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _secs(value: Any) -> str:
    return "—" if value is None else f"{value:.1f}"


def _signed(value: Any) -> str:
    return "—" if value is None else f"{value:+.4f}"
