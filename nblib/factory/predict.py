"""``nblib predict``: score a file with a run's model, written safely beside the user's data.

The science (reading cells, scoring rows, what a bad row is) lives in :mod:`nblib.ml.predict`;
this module reads the run's artifacts and writes the output files.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from nblib.engine import artifacts as io
from nblib.ml.data.datasets import load_table
from nblib.ml.predict import OUTPUT_KINDS, BadRows, Prediction, check_output_path, predict_rows
from nblib.ml.saved import TRUSTED_TYPES, restored

__all__ = ["predict_file", "write_table", "rejects_path"]


def predict_file(
    model_path: str | Path, data_path: str | Path, output: str | Path, *, on_bad_rows: str = "fail"
) -> Prediction:
    """Score ``data_path`` with the model at ``model_path`` into ``output``.

    ``columns.json`` of the same run must sit beside the model, as in a run's
    ``artifacts/``; the decision threshold is the model's own. With
    ``on_bad_rows="skip"`` the rows left out are written to :func:`rejects_path`
    (always, so that an older rejects file is never mistaken for this one's).
    """
    check_output_path(data_path, output)
    model_path = Path(model_path)
    columns = io.read_json(model_path.parent / "columns.json")
    model = restored(io.read_model(model_path, TRUSTED_TYPES))
    frame = load_table(data_path)
    try:
        result = predict_rows(model, frame, columns, on_bad_rows=on_bad_rows)
    except BadRows as exc:
        if exc.rejects is not None:
            write_table(exc.rejects, rejects_path(output))
        raise
    if on_bad_rows == "skip":
        write_table(result.rejects, rejects_path(output))
    write_table(result.scored, output)
    return result


def write_table(frame: pd.DataFrame, output: str | Path) -> Path:
    """Write ``frame`` atomically as CSV (every text field quoted) or Parquet, by extension."""
    output = Path(output)
    if OUTPUT_KINDS.get(output.suffix.lower()) == "parquet":
        return io.write_frame(output, frame)
    with io.atomic_path(output) as tmp:
        frame.to_csv(tmp, index=False, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    return output


def rejects_path(output: str | Path) -> Path:
    """Where the rejected rows of ``output`` go: ``OUT.rejects.csv`` beside it.

    >>> rejects_path("scores/new.parquet").as_posix()
    'scores/new.rejects.csv'
    """
    output = Path(output)
    return output.with_name(f"{output.stem}.rejects.csv")
