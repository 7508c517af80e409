"""notify.on_failure / notify.on_promotion: the user's command runs with what happened in its environment."""

from __future__ import annotations

import json

import pytest

from nblib.engine.errors import ParamsError
from nblib.factory.notify import notify
from nblib.factory.params import load_params

DUMP = (  # the command writes the NBLIB_ variables it was given into a JSON file
    "python3 -c \"import json, os; print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('NBLIB_')}))\""
    " > "
)


def _seen(path):
    return json.loads(path.read_text())


def test_a_failed_run_calls_on_failure_with_the_run_and_the_reason(tmp_path):
    run = tmp_path / "reports" / "2026-12-05" / "010203-smoke"
    run.mkdir(parents=True)
    out = tmp_path / "failure.json"
    done = notify(
        run, "failed", {"error": "stage 04_train failed: ValueError: boom\nmore"}, {"failure": DUMP + str(out)}
    )
    assert done == [{"event": "failure", "returncode": 0}]
    seen = _seen(out)
    assert seen["NBLIB_EVENT"] == "failure" and seen["NBLIB_STATUS"] == "failed"
    assert seen["NBLIB_RUN_DIR"] == str(run.resolve()) and seen["NBLIB_RUN_ID"] == "010203-smoke"
    assert (
        seen["NBLIB_REASON"].startswith("stage 04_train failed: ValueError: boom") and "\n" not in seen["NBLIB_REASON"]
    )


def test_a_promotion_calls_on_promotion_with_the_model_version_and_a_success_calls_nothing_else(tmp_path):
    out, other = tmp_path / "promotion.json", tmp_path / "failure.json"
    manifest = {
        "tracking": {
            "model": {"name": "nblib-smoke", "version": 4},
            "promotion": {"promoted": True, "reason": "better than version 3 (p = 0.01)"},
        }
    }
    commands = {"promotion": DUMP + str(out), "failure": DUMP + str(other)}
    assert notify(tmp_path, "succeeded", manifest, commands) == [{"event": "promotion", "returncode": 0}]
    seen = _seen(out)
    assert (seen["NBLIB_MODEL"], seen["NBLIB_MODEL_VERSION"], seen["NBLIB_EVENT"]) == ("nblib-smoke", "4", "promotion")
    assert not other.exists()
    kept = {"tracking": {"model": {"name": "m", "version": 5}, "promotion": {"promoted": False, "decision": "keep"}}}
    assert notify(tmp_path, "succeeded", kept, commands) == []


def test_a_failing_or_hanging_command_is_reported_and_never_raises(tmp_path, capsys):
    done = notify(tmp_path, "gated", {}, {"failure": "echo cannot reach the pager >&2; exit 7"})
    assert done == [{"event": "failure", "returncode": 7, "error": "exit 7: cannot reach the pager"}]
    assert "notify.on_failure: exit 7: cannot reach the pager" in capsys.readouterr().err
    started = tmp_path / "started"
    hangs = f"sleep 30 & echo $! > {started}; wait"  # the shell's child too: nothing outlives the timeout
    done = notify(tmp_path, "failed", {}, {"failure": hangs}, timeout_s=0.5)
    assert done == [{"event": "failure", "error": "stopped after 0.5 s (notify.timeout_s)"}]
    from nblib.engine.processes import alive

    assert not alive(int(started.read_text()))


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("schedule.cron=0 3 * *", "schedule.cron"),
        ("schedule.cron=@fortnightly", "not a cron expression"),
        ("schedule.retries=-1", "schedule.retries"),
        ("notify.on_failur=echo", "notify.on_failur"),
    ],
)
def test_schedule_and_notify_are_checked_like_the_other_params(override, words):
    with pytest.raises(ParamsError, match=words):
        load_params(["params/smoke.yaml"], [override])


def test_a_schedule_reads_cron_expressions_and_presets():
    params = load_params(["params/smoke.yaml"], ["schedule.cron=0  3 * * 1", "schedule.retries=2"])
    assert (params.schedule.cron, params.schedule.retries, params.schedule.catchup) == ("0 3 * * 1", 2, False)
    assert load_params(["params/smoke.yaml"], ["schedule.cron=@daily"]).schedule.cron == "@daily"
    assert load_params(["params/smoke.yaml"]).schedule.cron is None
