"""Generic params machinery: YAML files merged in order, ``section.key=value``
overrides, validation against a pydantic schema, and one-line errors.

The schema itself (which sections and keys exist) belongs to the project, see
:mod:`nblib.factory.params`; this module knows nothing of ML. Errors name the file and
the key path and suggest the closest valid key::

    params/my.yaml: train.cv_fold: unknown key (did you mean 'cv_folds'?)

Params files come from users, so reading them is bounded: a file over
:data:`MAX_BYTES`, text that is not UTF-8, nesting deeper than :data:`MAX_DEPTH`,
aliases that expand past :data:`MAX_VALUES` values or refer to themselves, and
duplicate keys are all refused with one line before any value is built.
Values echoed in messages are cut to :data:`ECHO_CHARS` characters.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from nblib.common.text import suggest
from nblib.engine.errors import ParamsError

__all__ = [
    "ECHO_CHARS",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_VALUES",
    "dump_params",
    "flatten",
    "load_yaml_params",
    "params_sha256",
    "parse_override",
    "plain",
    "read_yaml",
    "shorten",
    "suggest",
]

#: Largest params file read, in bytes.
MAX_BYTES = 1_000_000
#: Deepest nesting of lists and mappings, aliases expanded.
MAX_DEPTH = 32
#: Most values (scalars, lists, mappings) in one document, aliases expanded.
MAX_VALUES = 50_000
#: Longest value echoed in a message.
ECHO_CHARS = 80

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
        _set_path(merged, keys, value, label=f"-p {shorten(text)}")
    if "name" in schema.model_fields:
        merged.setdefault("name", paths[-1].stem[: _max_length(schema, "name")])
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
        raise ParamsError(f"-p {shorten(text)}: expected section.key=value, e.g. -p train.cv_folds=3")
    if len(keys) > MAX_DEPTH:
        raise ParamsError(f"-p {shorten(text)}: keys nested deeper than {MAX_DEPTH} levels")
    try:
        value = _parse(raw, f"-p {shorten(text)}") if raw.strip() else None
    except _InvalidYAML:
        value = raw  # not YAML: the text itself (a bounded refusal still raises ParamsError)
    return keys, value


def plain(model: BaseModel) -> Any:
    """A pydantic model as JSON-compatible data."""
    return model.model_dump(mode="json")


def params_sha256(params: BaseModel) -> str:
    """Stable hash of resolved params."""
    return hashlib.sha256(json.dumps(plain(params), sort_keys=True).encode()).hexdigest()


def dump_params(params: BaseModel) -> str:
    """Resolved params as YAML (what a run folder's ``params.yaml`` holds).

    Values keep their YAML types (a mapping with integer keys stays so), so
    loading the text again gives the same params.
    """
    return yaml.safe_dump(params.model_dump(), sort_keys=False)


def shorten(value: Any, limit: int = ECHO_CHARS) -> str:
    """``value`` as text for a one-line message: line breaks escaped, cut to ``limit`` characters.

    Strings are shown as they are, anything else as its ``repr``.

    >>> shorten("x" * 100, 10)
    'xxxxxxxxx…'
    >>> shorten({"a": [1, 2]})
    "{'a': [1, 2]}"
    """
    text = value if isinstance(value, str) else _safe_repr(value)
    if not text.isprintable():  # line breaks and other controls, as Python writes them
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def read_yaml(text: str | bytes, label: str) -> Any:
    """Parse one YAML document with the bounds of this module.

    Parameters
    ----------
    text : str or bytes
        The document; bytes must be UTF-8.
    label : str
        What to name in messages (a file, ``-p key=value``).

    Raises
    ------
    ParamsError
        One line: too big, not UTF-8, invalid YAML, too deep, aliases that
        expand too far or refer to themselves, duplicate keys.
    """
    try:
        return _parse(text, label)
    except _InvalidYAML as exc:
        raise ParamsError(str(exc)) from None


# --------------------------------------------------------------------------- helpers


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        if not path.is_file():
            raise ParamsError(f"{shorten(str(path))}: params file not found")
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ParamsError(f"{path}: params file is {size:,} bytes; the limit is {MAX_BYTES:,}")
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except (OSError, ValueError) as exc:  # too long a name, a NUL byte, no permission
        raise ParamsError(f"{shorten(str(path))}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    if len(raw) > MAX_BYTES:
        raise ParamsError(f"{path}: params file is over {MAX_BYTES:,} bytes")
    data = read_yaml(raw, str(path))
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
        if node.get(key) is None:
            node[key] = {}
        child = node[key]
        if not isinstance(child, dict):
            raise ParamsError(f"{label}: {shorten(key)} is not a section")
        node = child
    node[keys[-1]] = value


def _first_error(exc: ValidationError, schema: type[BaseModel]) -> str:
    # a misspelled key also makes the real key "missing": report the misspelling
    err = min(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    loc = [p if isinstance(p, str) else repr(p) for p in err["loc"]]
    path = ".".join(shorten(p, ECHO_CHARS // 2) for p in loc)
    if err["type"] == "extra_forbidden":
        return f"{path}: unknown key{suggest(loc[-1], _known_keys(schema, loc[:-1]))}"
    if err["type"] == "missing":
        return f"{path}: required key is missing"
    message = err["msg"].removeprefix("Value error, ")
    if not path:
        return message
    if " got " in f" {message}":  # the message already says what was found
        return f"{path}: {message}"
    return f"{path}: {message} (got {shorten(_safe_repr(err.get('input')))})"


def _known_keys(schema: type[BaseModel], loc: list[str]) -> list[str]:
    model: Any = schema
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = field.annotation
    return list(getattr(model, "model_fields", {}))


def _max_length(schema: type[BaseModel], name: str) -> int | None:
    """The ``max_length`` the schema puts on field ``name``, if any."""
    for meta in schema.model_fields[name].metadata:
        if getattr(meta, "max_length", None) is not None:
            return meta.max_length
    return None


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:  # noqa: BLE001 - a value that cannot be shown is named by its type
        return f"<{type(value).__name__}>"


# --------------------------------------------------------------------------- bounded YAML


class _InvalidYAML(ValueError):
    """Text that is not valid YAML (overrides fall back to plain text)."""


class _Refused(yaml.MarkedYAMLError):
    """Valid YAML refused by a bound (depth, size, aliases) or a duplicate key."""

    def __init__(self, problem: str, mark: Any):
        super().__init__(problem=problem, problem_mark=mark)


try:  # libyaml's parser when present (about 20x faster), composed by PyYAML's Python code
    from yaml.cyaml import CParser as _Parser

    def _init_parser(loader: Any, text: str) -> None:
        _Parser.__init__(loader, text)

    _PARSER_BASES: tuple[type, ...] = (_Parser,)
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    def _init_parser(loader: Any, text: str) -> None:
        Reader.__init__(loader, text)
        Scanner.__init__(loader)
        Parser.__init__(loader)

    _PARSER_BASES = (Reader, Scanner, Parser)


class _BoundedLoader(Composer, *_PARSER_BASES, SafeConstructor, Resolver):
    """PyYAML's safe loader with bounded depth and size, refusing duplicate keys.

    Composing is done by PyYAML's Python composer (so it can count), which
    takes the parser's events; every bound is checked before values are built.
    """

    def __init__(self, text: str):
        _init_parser(self, text)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._depth = 0
        self._values = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        self._values += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
        if self._values > MAX_VALUES:
            raise _Refused(f"more than {MAX_VALUES:,} values", self.peek_event().start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_mapping_node(self, anchor: Any) -> Any:
        node = super().compose_mapping_node(anchor)
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node)
            try:
                first = seen.get(key)
                if first is None:
                    seen[key] = key_node.start_mark.line
                    continue
            except TypeError:  # unhashable: the constructor says so
                continue
            raise _Refused(f"duplicate key {shorten(repr(key))} (first at line {first + 1})", key_node.start_mark)
        return node

    def compose_document(self) -> Any:
        node = super().compose_document()
        _measure(node, 1, {}, set())
        return node


def _measure(node: Any, level: int, memo: dict[int, tuple[int, int]], active: set[int]) -> tuple[int, int]:
    """(values, depth) of ``node`` with aliases expanded; refuses cycles and what is over a bound."""
    key = id(node)
    if key in memo:
        size, height = memo[key]
    else:
        if key in active:
            raise _Refused("an alias refers to a list or mapping that contains it", node.start_mark)
        if level > MAX_DEPTH:
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels (aliases expanded)", node.start_mark)
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [child for pair in node.value for child in pair]
        else:
            children = []
        active.add(key)
        size, height = 1, 1
        for child in children:
            child_size, child_height = _measure(child, level + 1, memo, active)
            size, height = size + child_size, max(height, child_height + 1)
            if size > MAX_VALUES:
                raise _Refused(f"aliases expand to more than {MAX_VALUES:,} values", node.start_mark)
        active.discard(key)
        memo[key] = size, height
    if level + height - 1 > MAX_DEPTH:
        raise _Refused(f"nested deeper than {MAX_DEPTH} levels (aliases expanded)", node.start_mark)
    return size, height


def _parse(text: str | bytes, label: str) -> Any:
    """One YAML document, bounded; raises ParamsError for a refusal, _InvalidYAML for bad syntax."""
    if len(text) > MAX_BYTES:
        raise ParamsError(f"{label}: over {MAX_BYTES:,} bytes of YAML")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = text.count(b"\n", 0, exc.start) + 1
            column = exc.start - (text.rfind(b"\n", 0, exc.start) + 1) + 1
            raise ParamsError(
                f"{label}: not UTF-8 text: byte 0x{text[exc.start]:02x} at line {line}, column {column}"
            ) from None
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    except _Refused as exc:
        mark = exc.problem_mark
        raise ParamsError(f"{label}: line {mark.line + 1}, column {mark.column + 1}: {exc.problem}") from None
    except yaml.MarkedYAMLError as exc:
        problem = shorten(exc.problem or exc.context or "cannot parse", 2 * ECHO_CHARS)
        raise _InvalidYAML(f"{label}: invalid YAML{_where(exc.problem_mark)}: {problem}") from None
    except yaml.YAMLError as exc:  # the reader: control characters and the like
        position = getattr(exc, "position", None)
        where = f" at line {text.count(chr(10), 0, position) + 1}" if isinstance(position, int) else ""
        reason = getattr(exc, "reason", None) or shorten(str(exc), 2 * ECHO_CHARS)
        raise _InvalidYAML(f"{label}: invalid YAML{where}: {reason}") from None
    except (ValueError, OverflowError) as exc:  # a scalar its type cannot hold: 2026-02-30, 10**5000
        raise _InvalidYAML(f"{label}: invalid YAML value: {shorten(str(exc), 2 * ECHO_CHARS)}") from None
    except RecursionError:  # pragma: no cover - the depth bound comes first
        raise ParamsError(f"{label}: nested too deep") from None
    finally:
        loader.dispose()


def _where(mark: Any) -> str:
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested params as dotted keys; an empty mapping stays a value.

    >>> flatten({"train": {"cv_folds": 5, "models": {"rf": {}}}, "seed": 1})
    {'train.cv_folds': 5, 'train.models.rf': {}, 'seed': 1}
    """
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out
