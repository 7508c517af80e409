"""Generic params machinery: YAML files merged in order, ``section.key=value``
overrides, validation against a pydantic schema, and one-line errors.

The schema itself (which sections and keys exist) belongs to the project, see
:mod:`nblib.params`; this module knows nothing of ML. Errors name the file and
the key path and suggest the closest valid key::

    params/my.yaml: train.cv_fold: unknown key (did you mean 'cv_folds'?)
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from nblib.engine.errors import ParamsError

__all__ = [
    "load_yaml_params",
    "parse_override",
    "params_sha256",
    "dump_params",
    "suggest",
    "plain",
]

M = TypeVar("M", bound=BaseModel)


def load_yaml_params(
    paths: list[str | Path] | str | Path, overrides: list[str] = (), *, schema: type[M]
) -> tuple[M, str]:
    """Load, merge (later files win), override and validate params.

    Parameters
    ----------
    paths : path or list of paths
        YAML files; sections are merged key by key, later files winning.
    overrides : list of str
        ``section.key=value`` strings; values are parsed as YAML scalars.
    schema : pydantic model class
        The params schema; a top-level ``name`` defaults to the last file's stem.

    Returns
    -------
    params : schema instance
    label : str
        How to name the params in messages (the file, or files joined by ``+``).

    Raises
    ------
    ParamsError
        With one line naming the file and key.
    """
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    if not paths:
        raise ParamsError("no params file given")
    merged: dict[str, Any] = {}
    for path in paths:
        merged = _deep_merge(merged, _read_yaml(path))
    label = "+".join(p.as_posix() for p in paths)
    for text in overrides:
        keys, value = parse_override(text)
        _set_path(merged, keys, value, label=f"-p {text}")
    if "name" in schema.model_fields:
        merged.setdefault("name", paths[-1].stem)
    try:
        return schema.model_validate(merged), label
    except ValidationError as exc:
        raise ParamsError(f"{label}: {_first_error(exc, schema)}") from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``'train.cv_folds=3'`` into ``(['train', 'cv_folds'], 3)``.

    >>> parse_override("train.cv_folds=3")
    (['train', 'cv_folds'], 3)
    """
    key, sep, raw = text.partition("=")
    keys = key.strip().split(".")
    if not sep or not all(keys):
        raise ParamsError(f"-p {text}: expected section.key=value, e.g. -p train.cv_folds=3")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return keys, value


def plain(model: BaseModel) -> Any:
    """A pydantic model as JSON-compatible data."""
    return model.model_dump(mode="json")


def params_sha256(params: BaseModel) -> str:
    """Stable hash of resolved params."""
    return hashlib.sha256(json.dumps(plain(params), sort_keys=True).encode()).hexdigest()


def dump_params(params: BaseModel) -> str:
    """Resolved params as YAML (what a run folder's ``params.yaml`` holds)."""
    return yaml.safe_dump(plain(params), sort_keys=False)


def suggest(word: str, choices: list[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --------------------------------------------------------------------------- helpers


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ParamsError(f"{path}: params file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "cannot parse"
        raise ParamsError(f"{path}: invalid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
    return data


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _set_path(data: dict[str, Any], keys: list[str], value: Any, label: str) -> None:
    node = data
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ParamsError(f"{label}: {key} is not a section")
        node = child
    node[keys[-1]] = value


def _first_error(exc: ValidationError, schema: type[BaseModel]) -> str:
    # a misspelled key also makes the real key "missing": report the misspelling
    err = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
    loc = [str(p) for p in err["loc"]]
    path = ".".join(loc)
    if err["type"] == "extra_forbidden":
        return f"{path}: unknown key{suggest(loc[-1], _known_keys(schema, loc[:-1]))}"
    if err["type"] == "missing":
        return f"{path}: required key is missing"
    message = err["msg"].removeprefix("Value error, ")
    if not path:
        return message
    return f"{path}: {message} (got {err.get('input')!r})"


def _known_keys(schema: type[BaseModel], loc: list[str]) -> list[str]:
    model: Any = schema
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = field.annotation
    return list(getattr(model, "model_fields", {}))
