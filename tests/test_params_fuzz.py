"""Property-based fuzzing of params loading: hostile documents and ``-p`` overrides.

Whatever the text, :func:`nblib.factory.params.load_params` either returns valid params (that
survive ``dump_params`` and a reload unchanged, with every number finite) or refuses
them with :class:`ParamsError` / :class:`InputDataError` carrying one line of bounded
length; nothing else escapes, and no document takes over 2 s.

The suite is sized to add well under a minute; ``NBLIB_FUZZ_EXAMPLES=1000`` scales
each property to that many generated cases for a by-hand run.
"""

from __future__ import annotations

import math
import os
import time
import types
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from nblib.engine.errors import InputDataError, ParamsError
from nblib.engine.params import dump_params
from nblib.factory.params import Params, load_params

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("NBLIB_FUZZ_EXAMPLES", "0")) or None
MAX_SECONDS = 2.0
MAX_MESSAGE = 600

FUZZ = settings(
    max_examples=EXAMPLES or 150,
    deadline=None,  # timed by hand below, against MAX_SECONDS, without hypothesis' warm-up noise
    database=None,  # nothing written into the checkout
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


# --------------------------------------------------------------------------- the property


def check_load(folder: Path, text: str | bytes, overrides: list[str] = ()) -> None:
    """Load ``text`` as a params file (with ``overrides``) and check the outcome."""
    path = folder / "fuzz.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    start = time.perf_counter()
    try:
        params = load_params(path, list(overrides))
    except (ParamsError, InputDataError) as exc:
        message = str(exc)
        assert message and "\n" not in message and "\r" not in message, message
        assert len(message) <= MAX_MESSAGE, f"{len(message)} characters: {message[:200]}"
        assert exc.exit_code == 2
        event(f"refused: {type(exc).__name__}")
    else:
        event("accepted")
        assert isinstance(params, Params)
        assert all_finite(params.model_dump()), params
        again = folder / "again.yaml"
        again.write_text(dump_params(params))
        assert load_params(again, check_data=False) == params, "params.yaml does not reload as the same params"
    seconds = time.perf_counter() - start
    assert seconds < MAX_SECONDS, f"took {seconds:.1f} s"


def all_finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(all_finite(k) and all_finite(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set)):
        return all(all_finite(v) for v in value)
    return True


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    load_params(ROOT / "params/smoke.yaml")  # the first load imports scikit-learn and pandas: not timed
    return tmp_path_factory.mktemp("fuzz")


# --------------------------------------------------------------------------- what is generated


SECTIONS = {
    "data": ["source", "n_rows", "target", "task", "drop_columns", "columns"],
    "quality": ["max_missing_fraction", "leak_score_threshold", "drop_leaky_columns", "outlier_iqr_factor"],
    "preprocess": [
        "test_size",
        "stratify",
        "drop_duplicates",
        "numeric_impute",
        "scale",
        "categorical_min_frequency",
        "high_cardinality_threshold",
    ],
    "features": ["text", "date"],
    "imbalance": ["class_weight"],
    "train": ["cv_folds", "scoring", "models"],
    "evaluate": ["bootstrap", "confidence", "threshold", "gates"],
    "tracking": [],
    "compute": ["n_jobs"],
}
WORDS = [
    "is_hit",
    "revenue_k",
    "classification",
    "regression",
    "generated",
    "balanced",
    "none",
    "roc_auc",
    "rmse",
    "logistic_regression",
    "random_forest",
    "ridge",
    "dummy",
    "median",
    "year",
    "C",
    "class_weight",
    "max_iter",
    "n_estimators",
    "yes",
    "no",
    "on",
    "5",
    "0.5",
    "~",
    "null",
    "x" * 300,
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.integers(),  # big ones too
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(WORDS),
    st.text(max_size=40),
    st.text(min_size=200, max_size=2000, alphabet=st.characters(codec="utf-8")),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(WORDS), st.integers(-3, 3), st.text(max_size=10)), inner, max_size=4),
    ),
    max_leaves=12,
)


@st.composite
def documents(draw) -> dict[str, Any]:
    """Mostly the schema's sections and keys, with values of any type."""
    doc: dict[Any, Any] = {}
    if draw(st.integers(0, 9)):  # usually a target the generated data has, to get past it
        doc["data"] = {"target": draw(st.sampled_from(["is_hit", "is_hit", "revenue_k", "nope"]))}
        if draw(st.booleans()):
            doc["data"]["n_rows"] = draw(st.integers(50, 400))
    for section in draw(st.lists(st.sampled_from([*SECTIONS, "name", "seed", "junk"]), max_size=5)):
        keys = SECTIONS.get(section)
        if keys is None or not keys or draw(st.integers(0, 7)) == 0:
            doc[section] = draw(values)
            continue
        body = doc.setdefault(section, {})
        if not isinstance(body, dict):
            continue
        for key in draw(st.lists(st.sampled_from([*keys, "junk"]), min_size=1, max_size=3)):
            body[key] = draw(valid_or_not(section, key))
    return doc


def valid_or_not(section: str, key: str):
    """A plausible value for ``section.key`` (often valid), or anything at all."""
    plausible = {
        ("train", "models"): st.dictionaries(
            st.sampled_from(["logistic_regression", "random_forest", "ridge", "dummy", "xgb"]),
            st.one_of(
                st.just({}),
                st.dictionaries(st.sampled_from(["C", "class_weight", "max_iter", "n_estimators"]), values, max_size=2),
            ),
            min_size=1,
            max_size=3,
        ),
        ("evaluate", "gates"): st.dictionaries(
            st.sampled_from(["roc_auc", "f1", "rmse", "brier", "r2"]),
            st.floats(allow_nan=True, allow_infinity=True),
            max_size=2,
        ),
        ("data", "columns"): st.dictionaries(
            st.sampled_from(["numeric", "text", "date", "ignore"]),
            st.lists(st.sampled_from(["price", "description", "x"]), max_size=2),
            max_size=2,
        ),
        ("features", "text"): st.dictionaries(
            st.sampled_from(["max_features", "ngram_max", "min_df"]), st.integers(-2, 5000), max_size=2
        ),
    }.get((section, key), st.nothing())
    return st.one_of(plausible, st.integers(-5, 50), st.floats(-2, 2), values)


def typed(annotation: Any):
    """Values of the type a schema field declares, in and just out of its range (and None)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        fields = annotation.model_fields
        if not fields:
            return st.just({})
        return st.lists(st.sampled_from(sorted(fields)), max_size=3).flatmap(
            lambda keys: st.fixed_dictionaries({k: typed(fields[k].annotation) for k in keys})
        )
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin in (typing.Union, types.UnionType):
        return st.one_of([typed(a) for a in args])
    if origin is list:
        return st.lists(
            typed(args[0])
            if typing.get_origin(args[0]) is typing.Literal
            else st.sampled_from(["price", "description", "x"]),
            max_size=3,
        )
    if origin is dict:
        return st.dictionaries(st.sampled_from(["roc_auc", "rmse", "brier", "x"]), st.floats(-0.5, 1.5), max_size=2)
    return {
        int: st.one_of(st.integers(-3, 30), st.integers(40, 2000)),
        float: st.one_of(st.floats(-0.5, 1.5), st.floats(allow_nan=True, allow_infinity=True)),
        bool: st.booleans(),
        str: st.sampled_from(WORDS),
        type(None): st.none(),
    }.get(annotation, values)


@st.composite
def near_valid(draw) -> dict[str, Any]:
    """The smoke params with a few keys changed to values of the right type, or close."""
    doc = yaml.safe_load((ROOT / "params/smoke.yaml").read_text())
    doc["data"]["n_rows"] = 200
    for section in draw(st.lists(st.sampled_from(sorted(Params.model_fields)), min_size=1, max_size=3)):
        annotation = Params.model_fields[section].annotation
        change = draw(typed(annotation))
        if isinstance(change, dict) and isinstance(doc.get(section), dict):
            doc[section].update(change)
        else:
            doc[section] = change
    if draw(st.integers(0, 3)) == 0:  # a model family with one hyperparameter
        doc["train"] = doc["train"] if isinstance(doc.get("train"), dict) else {}
        doc["train"]["models"] = draw(valid_or_not("train", "models"))
    return doc


def render(doc: dict[str, Any], flow: bool) -> str:
    return yaml.safe_dump(doc, default_flow_style=flow, allow_unicode=True, sort_keys=False)


ALIAS_BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)


@st.composite
def texts(draw) -> str | bytes:
    """A rendered document, often mangled: aliases, duplicate keys, bad bytes, deep nesting, cuts."""
    text = render(draw(st.one_of(documents(), near_valid())), flow=draw(st.booleans()))
    how = draw(
        st.sampled_from(
            ["as is", "as is", "alias bomb", "self alias", "duplicate line", "deep", "bytes", "cut", "huge", "noise"]
        )
    )
    lines = text.splitlines(keepends=True) or ["\n"]
    at = draw(st.integers(0, len(lines)))
    if how == "alias bomb":  # at the top, or nested where a model's hyperparameters go
        text = draw(
            st.sampled_from(
                [
                    ALIAS_BOMB + text,
                    text + "train:\n  models:\n    dummy:\n      " + ALIAS_BOMB.replace("\n", "\n      "),
                ]
            )
        )
    elif how == "self alias":
        text += draw(st.sampled_from(["loop: &l [*l]\n", "loop: &l {x: *l}\n", "train: &t {models: *t}\n"]))
    elif how == "duplicate line":
        text = "".join(lines[:at] + lines[at - 1 : at] + lines[at:]) if at else text + text
    elif how == "deep":
        depth = draw(st.integers(20, 3000))
        text += draw(
            st.sampled_from([f"deep: {'[' * depth}{']' * depth}\n", f"deep: {'{a: ' * depth}1{'}' * depth}\n"])
        )
    elif how == "bytes":
        data = text.encode()
        cut = draw(st.integers(0, len(data)))
        return data[:cut] + draw(st.binary(min_size=1, max_size=8)) + data[cut:]
    elif how == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    elif how == "huge":
        size = draw(st.sampled_from([1_000, 100_000, 999_000, 1_000_001]))
        text += f"{draw(st.sampled_from(['name', 'seed', 'junk']))}: {'v' * size}\n"
    elif how == "noise":
        text = "".join(lines[:at]) + draw(st.text(max_size=60)) + "".join(lines[at:])
    return text


@st.composite
def overrides(draw) -> list[str]:
    """``-p section.key=value`` strings: real and made-up keys, YAML and not."""
    out = []
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):  # a real key and a value of its type
            section = draw(st.sampled_from(sorted(Params.model_fields)))
            field = Params.model_fields[section]
            fields = getattr(field.annotation, "model_fields", None)
            if fields:
                key = draw(st.sampled_from(sorted(fields)))
                section, field = f"{section}.{key}", fields[key]
            value = yaml.safe_dump(draw(typed(field.annotation)), default_flow_style=True, width=10**6)
            out.append(f"{section}={value.strip().removesuffix('...').strip()}")
            continue
        section = draw(st.sampled_from([*SECTIONS, "seed", "name", "", "a.b.c"]))
        key = draw(st.sampled_from([*SECTIONS.get(section, []), "junk", ""]))
        path = ".".join(p for p in (section, key) if p) or draw(st.text(max_size=8))
        value = draw(
            st.one_of(
                values.map(lambda v: yaml.safe_dump(v, default_flow_style=True).strip().removesuffix("...").strip()),
                st.text(max_size=30),
                st.sampled_from(
                    [
                        "&a [*a]",
                        "&a {b: *a}",
                        "{x: 1, x: 2}",
                        ".nan",
                        "-.inf",
                        "[" * 500,
                        "'unclosed",
                        ALIAS_BOMB.replace("\n", ", ").join("{}"),
                        "{0: 1, 1: 5}",
                        "yes",
                        '"5"',
                    ]
                ),
            )
        )
        out.append(f"{path}={value}")
    return out


BASE = "data: {target: is_hit, n_rows: 200}\ntrain: {cv_folds: 2, models: {logistic_regression: {}}}\n"


# --------------------------------------------------------------------------- the properties


@FUZZ
@given(text=texts())
def test_any_document_loads_or_is_refused_with_one_line(folder, text):
    check_load(folder, text)


@FUZZ
@given(extra=overrides())
def test_any_override_applies_or_is_refused_with_one_line(folder, extra):
    check_load(folder, BASE, extra)


@settings(FUZZ, max_examples=EXAMPLES or 60)
@given(doc=st.one_of(documents(), near_valid()), extra=overrides())
def test_documents_with_overrides(folder, doc, extra):
    check_load(folder, render(doc, flow=False), extra)
