"""MLflow tracking, the model registry and champion/challenger promotion.

Each pipeline run becomes one MLflow run, logged explicitly (no autologging) from what the run
folder holds, after the stages; its final pipeline is registered as a new version of
``tracking.model_name``, and with ``evaluate.promote`` it replaces the ``@champion`` only when a
paired test on the same test rows says it is better. A store that cannot be reached costs a
warning (terminal, manifest, summary), never the run.

One reason to change per module; this package only re-exports their public names:

- :mod:`nblib.tracking.session`: where a run is tracked (:func:`settings`), the helper process that
  imports MLflow beside the stages (:func:`prestart`) and its requests, the store's client and lock;
- :mod:`nblib.tracking.records`: what a run folder says about its model (the chosen-model record,
  kept likely leaks, which test rows);
- :mod:`nblib.tracking.runs`: logging a run (params, metrics, child runs, tags, artifacts);
- :mod:`nblib.tracking.registry`: the logged pyfunc and its requirements, model versions, the first
  ``@champion`` and who the champion is;
- :mod:`nblib.tracking.promotion`: champion against challenger (:func:`challenge`, :func:`decide`)
  and moving the alias after the run;
- :mod:`nblib.tracking.serving`: the pyfunc model MLflow loads (imported by MLflow, not here);
- :mod:`nblib.tracking.server`: ``nblib serve``, a registered version answering HTTP on MLflow's scoring
  protocol (imported by the command, not here: it needs Starlette and uvicorn).

``python -m nblib.tracking`` is the helper process (:mod:`nblib.tracking.__main__`).
"""

from __future__ import annotations

from nblib.tracking.promotion import challenge, check_promotion, decide, move_champion
from nblib.tracking.records import kept_leaks, test_rows_sha256
from nblib.tracking.registry import CHAMPION, champion_key, first_champion, register_model
from nblib.tracking.runs import Session, describe, finish, flatten_params, log, run_metrics
from nblib.tracking.session import (
    STORE_DIR,
    TrackingError,
    open_store,
    prestart,
    settings,
    shown_uri,
    stop_helper,
)

__all__ = [
    "CHAMPION",
    "STORE_DIR",
    "TrackingError",
    "Session",
    "settings",
    "shown_uri",
    "prestart",
    "open_store",
    "stop_helper",
    "log",
    "finish",
    "describe",
    "run_metrics",
    "flatten_params",
    "register_model",
    "first_champion",
    "champion_key",
    "challenge",
    "decide",
    "move_champion",
    "kept_leaks",
    "check_promotion",
    "test_rows_sha256",
]
