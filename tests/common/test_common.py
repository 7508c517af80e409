"""nblib.common: one "did you mean", one-line message, slug, JSON sanitiser and file lock for every layer,
and the one Jinja environment of the pages and the model card."""

from __future__ import annotations

import ast
import datetime as dt
import doctest
import importlib
import json
import math
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nblib.common.jsonsafe import finite, json_default, jsonable
from nblib.common.locks import file_lock
from nblib.common.text import clip, one_line, slug, suggest

NBLIB = Path(__file__).resolve().parents[2] / "nblib"


@pytest.mark.parametrize(
    "name", ["nblib.common.text", "nblib.common.jsonsafe", "nblib.common.locks", "nblib.factory.templating"]
)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# --------------------------------------------------------------------------- did you mean


def test_suggest_names_the_closest_choice_or_nothing():
    assert suggest("cv_fold", ["cv_folds", "seed"]) == " (did you mean 'cv_folds'?)"
    assert suggest("zzz", ["cv_folds"]) == ""
    assert suggest("alpah", (c for c in ["alpha", "beta"])) == " (did you mean 'alpha'?)"  # any iterable


def test_suggest_refuses_what_cannot_be_a_typo():
    assert suggest(3, ["3"]) == ""
    assert suggest("cv_folds" * 100, ["cv_folds"]) == ""  # no quadratic difflib on a huge value


def test_every_layer_uses_the_one_suggest_and_the_one_file_lock():
    from nblib.common import locks, text
    from nblib.engine import lock, params

    assert params.suggest is text.suggest
    assert lock.file_lock is locks.file_lock


# --------------------------------------------------------------------------- one line


def test_one_line_joins_lines_or_keeps_the_first():
    exc = RuntimeError("cannot open\n  the store:\tConnection refused\n")
    assert one_line(exc) == "cannot open the store: Connection refused"
    assert one_line(exc, first=True, typed=True) == "RuntimeError: cannot open"
    assert one_line(RuntimeError("\n\n  second line is the first\nthird"), first=True) == "second line is the first"


def test_one_line_names_the_type_of_an_exception_without_a_message():
    assert one_line(KeyError()) == "KeyError"
    assert one_line(ValueError(""), typed=True) == "ValueError:"
    assert one_line("") == ""


def test_a_long_message_keeps_its_start_and_its_end():
    text = "could not reach http://store " + "x" * 500 + " Connection refused"
    line = one_line(text, 300)
    assert len(line) == 300 and line.startswith("could not reach") and line.endswith("Connection refused")
    assert " … " in line


@given(st.text(), st.integers(min_value=0, max_value=400))
def test_clip_never_exceeds_its_limit(text, limit):
    cut = clip(text, limit)
    assert len(cut) <= max(limit, 0) or cut == text
    if len(text) <= limit:
        assert cut == text


@given(st.text(), st.integers(min_value=5, max_value=400))
def test_one_line_is_one_line_within_the_limit(text, limit):
    line = one_line(text, limit)
    assert "\n" not in line and "\r" not in line and len(line) <= limit


def test_one_line_errors_keep_the_engines_600_character_cut():
    from nblib.engine.errors import ParamsError

    message = str(ParamsError("a" * 400 + "\n" + "b" * 400))
    assert len(message) == 600 and message.startswith("a" * 398 + " … ") and message.endswith("b" * 199)
    assert "\\n" not in message  # the break was cut away with the middle


# --------------------------------------------------------------------------- slugs


def test_slug_never_leaves_its_folder_and_is_never_hidden():
    assert slug("../../etc/passwd") == "etc_passwd"
    assert slug(".hidden") == "hidden"
    assert slug("///", default="figure") == "figure"
    assert slug("a" * 100, limit=10) == "a" * 10


def test_unique_slugs_keep_apart_names_that_differ_only_in_dropped_characters():
    one, two = slug("price/€", unique=True), slug("price/$", unique=True)
    assert one != two and one.startswith("price-") and two.startswith("price-")
    assert slug("price", unique=True) == "price"


def test_each_callers_slug_policy_is_kept():
    from nblib.engine.runner import _slug
    from nblib.factory.stage import safe_name
    from nblib.ml.features.encoders import _safe

    assert _slug("smoke-models={dummy: {}}") == "smoke-models-dummy"
    assert _slug("données v2.1") == "données-v2.1"  # run folders keep letters of any script
    assert _slug("---") == "run"
    assert safe_name("by_../../../../tmp/x") == "by__tmp_x-5b10ae"
    assert _safe("Price ($)") == "Price" and _safe("__") == "col"  # no "__" inside transformer names


@given(st.text())
def test_slug_is_a_safe_file_name(text):
    name = slug(text, limit=80)
    assert name and "/" not in name and "\x00" not in name and not name.startswith((".", "-"))
    assert name not in {".", ".."}


# --------------------------------------------------------------------------- JSON


def test_jsonable_makes_strict_json_of_numpy_pandas_paths_and_dates():
    value = {
        np.int64(3): np.float64("nan"),
        "arr": np.array([1.0, np.inf, 2.5]),
        "series": pd.Series([1, 2]),
        "na": pd.NA,
        "nat": pd.NaT,
        "when": pd.Timestamp("2024-05-01 12:00"),
        "day": dt.date(2024, 5, 1),
        "path": Path("a") / "b",
        "tuple": (np.bool_(True), np.int32(7)),
        "set": {"x"},
        "nested": [{"inf": -math.inf, "ok": 0.5}],
    }
    out = jsonable(value)
    assert out == {
        3: None,
        "arr": [1.0, None, 2.5],
        "series": [1, 2],
        "na": None,
        "nat": None,
        "when": "2024-05-01T12:00:00",
        "day": "2024-05-01",
        "path": "a/b",
        "tuple": [True, 7],
        "set": ["x"],
        "nested": [{"inf": None, "ok": 0.5}],
    }
    assert type(out["tuple"][1]) is int
    json.dumps(out, allow_nan=False)  # strict JSON


def test_jsonable_leaves_plain_values_alone():
    data = {"a": [1, "x", None, True, 2.5]}
    assert jsonable(data) == data


def test_json_default_converts_only_what_json_cannot_write():
    assert json.dumps({"n": np.int64(2), "p": Path("x")}, default=json_default) == '{"n": 2, "p": "x"}'
    with pytest.raises(TypeError, match="not JSON serializable: object"):
        json.dumps(object(), default=json_default)


def test_finite():
    assert finite(np.float32(0.5)) == 0.5 and finite("1") == 1.0
    assert finite(float("inf")) is None and finite(np.nan) is None and finite(None) is None


# --------------------------------------------------------------------------- file lock


def test_file_lock_serializes_and_calls_on_wait_once(tmp_path):
    path = tmp_path / "sub" / ".lock"  # its folder is made
    waited, order = [], []
    held, release = threading.Event(), threading.Event()

    def holder():
        with file_lock(path):
            order.append("holder in")
            held.set()
            release.wait(10)
            order.append("holder out")

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)

    def on_wait():
        waited.append(True)
        release.set()

    with file_lock(path, on_wait=on_wait) as locked:
        order.append("waiter in")
    thread.join()
    assert locked and waited == [True] and order == ["holder in", "holder out", "waiter in"]
    assert path.exists()  # stays for the next waiter


def test_file_lock_runs_unlocked_where_no_lock_file_can_be_made(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with file_lock(blocker / ".lock") as locked:
        assert locked is False


def test_file_lock_is_free_again_after_an_error_in_the_block(tmp_path):
    with pytest.raises(RuntimeError), file_lock(tmp_path / ".lock"):
        raise RuntimeError("boom")
    with file_lock(tmp_path / ".lock", on_wait=lambda: pytest.fail("still held")) as locked:
        assert locked


def test_a_cache_claim_is_the_common_lock(tmp_path):
    from nblib.engine.cache import Claim, StageCache

    store = StageCache(tmp_path / "cache")
    claim = store.claim("a", "k")
    assert (tmp_path / "cache" / "a" / ".k.lock").exists()
    claim.release()
    claim.release()  # twice is harmless
    Claim(None).release()


# --------------------------------------------------------------------------- one Jinja environment


def test_one_environment_escapes_html_and_markdown():
    from nblib.factory.templating import environment

    env = environment()
    assert env.from_string("{{ x }}").render(x="<script>") == "&lt;script&gt;"
    markdown = env.from_string("{% autoescape false %}{{ x }}|{{ y }}{% endautoescape %}")
    assert markdown.render(x="a|b*", y=None) == "a\\|b\\*|"  # the card's Markdown escaping, None as nothing
    assert (
        env.from_string("{{ a | fmt }} {{ b | num(2) }} {{ c | num }} {{ d | signed }} {{ e | secs }}").render(
            a=None, b=0.5, c=math.nan, d=0.25, e=3.14159
        )
        == "— 0.50 – +0.2500 3.1"
    )


def test_the_pages_and_the_card_share_it():
    from nblib.factory import templating

    assert templating.template("index.html.j2").environment is templating.template("model_card.md.j2").environment
    for module in ("card.py", "pages.py"):
        assert "jinja2.Environment" not in (NBLIB / "factory" / module).read_text()


# --------------------------------------------------------------------------- one of each


def _calls(attribute: str) -> set[str]:
    """Modules of nblib (relative paths) that call ``<something>.<attribute>``."""
    found = set()
    for path in NBLIB.rglob("*.py"):
        tree = ast.parse(path.read_text())
        if any(isinstance(n, ast.Attribute) and n.attr == attribute for n in ast.walk(tree)):
            found.add(path.relative_to(NBLIB).as_posix())
    return found


# Copies that other open work still has to point at nblib.common (remove a line when it is done).
PENDING: set[str] = set()


def test_no_module_keeps_its_own_did_you_mean_or_file_lock():
    assert _calls("get_close_matches") - PENDING <= {"common/text.py"}
    assert _calls("flock") <= {"common/locks.py", "engine/lock.py"}  # RunLock: a run folder's ownership
    assert _calls("Environment") <= {"factory/templating.py"}
