"""``notify.on_failure`` and ``notify.on_promotion``: a command of the user's, called when a run ends badly or
its model becomes ``@champion``.

The command runs through the shell (``sh -c``), in the working directory of ``nblib run``, with what happened
in its environment:

==========================  ===============================================================
``NBLIB_EVENT``             ``failure`` or ``promotion``
``NBLIB_RUN_DIR``           the run folder (absolute)
``NBLIB_RUN_ID``            the run folder's name
``NBLIB_STATUS``            the run's status: ``failed``, ``gated``, ``interrupted``, ``succeeded``
``NBLIB_REASON``            one line: the error, the gate, or why the model was promoted
``NBLIB_MODEL``             promotion: the registered model's name
``NBLIB_MODEL_VERSION``     promotion: the version that became ``@champion``
==========================  ===============================================================

A command that fails, or runs past ``notify.timeout_s``, is reported on stderr and in the manifest
(``notify``); it never changes the run's exit code: the run itself is complete.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from nblib.common.text import one_line
from nblib.engine.processes import kill_tree

__all__ = ["events", "notify"]


def events(status: str, manifest: dict[str, Any], error: object = None) -> list[tuple[str, dict[str, str]]]:
    """What the run's end calls for: ``[(event, environment), ...]``.

    >>> events("gated", {}, "evaluate.gates: roc_auc 0.61 < 0.9")
    [('failure', {'NBLIB_STATUS': 'gated', 'NBLIB_REASON': 'evaluate.gates: roc_auc 0.61 < 0.9'})]
    >>> record = {"model": {"name": "nblib-smoke", "version": 3}, "promotion": {"promoted": True, "reason": "beats v2"}}
    >>> events("succeeded", {"tracking": record})[0][1]["NBLIB_MODEL_VERSION"]
    '3'
    >>> events("succeeded", {"tracking": {"model": {"name": "m", "version": 1}}})
    []
    >>> already = {"promoted": True, "already": True, "reason": "this pipeline is the champion already (version 1)"}
    >>> events("succeeded", {"tracking": {"model": {"name": "m", "version": 1}, "promotion": already}})
    []
    >>> first = {"name": "m", "version": 1, "champion": "first"}
    >>> events("succeeded", {"tracking": {"model": first, "promotion": already}})[0][1]["NBLIB_REASON"]
    'the first registered version of this model'
    """
    out = []
    if status != "succeeded":
        reason = one_line(str(error if error is not None else manifest.get("error") or status))
        out.append(("failure", {"NBLIB_STATUS": status, "NBLIB_REASON": reason}))
    record = manifest.get("tracking") or {}
    model = record.get("model") or {}
    promotion = record.get("promotion") or {}
    first = model.get("champion") == "first"  # this run registered the model's first version: champion
    if model and (first or (promotion.get("promoted") and not promotion.get("already"))):
        reason = "the first registered version of this model" if first else promotion.get("reason", "")
        out.append(
            (
                "promotion",
                {
                    "NBLIB_STATUS": status,
                    "NBLIB_REASON": one_line(str(reason)),
                    "NBLIB_MODEL": str(model.get("name", "")),
                    "NBLIB_MODEL_VERSION": str(model.get("version", "")),
                },
            )
        )
    return out


def notify(
    run_dir: Path,
    status: str,
    manifest: dict[str, Any],
    commands: dict[str, str | None],
    *,
    timeout_s: float = 60,
    error: object = None,
) -> list[dict[str, Any]]:
    """Run the command of each event of :func:`events` that has one (``commands``: event -> shell command).

    Returns one record per command run (``event``, ``returncode``, and ``error`` when it failed); a failure is
    also printed on stderr as one line."""
    done = []
    for event, extra in events(status, manifest, error):
        command = commands.get(event)
        if not command:
            continue
        env = {
            **os.environ,
            "NBLIB_EVENT": event,
            "NBLIB_RUN_DIR": str(Path(run_dir).resolve()),
            "NBLIB_RUN_ID": Path(run_dir).name,
            **extra,
        }
        record: dict[str, Any] = {"event": event}
        try:  # a session of its own: on a timeout the command and everything it started are stopped
            proc = subprocess.Popen(
                ["/bin/sh", "-c", command],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
        except OSError as exc:
            record["error"] = f"cannot start it: {exc.strerror or exc}"
        else:
            try:
                _, stderr = proc.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                kill_tree(proc.pid, proc.pid, grace=1.0)
                proc.communicate()
                record["error"] = f"stopped after {timeout_s:g} s (notify.timeout_s)"
            else:
                record["returncode"] = proc.returncode
                if proc.returncode != 0:
                    said = one_line(stderr.strip().splitlines()[-1]) if stderr.strip() else ""
                    record["error"] = f"exit {proc.returncode}" + (f": {said}" if said else "")
        if "error" in record:
            print(f"nblib: warning: notify.on_{event}: {record['error']}", file=sys.stderr)
        done.append(record)
    return done
