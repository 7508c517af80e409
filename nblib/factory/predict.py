"""``nblib predict``: score a file with a run's model, written safely beside the user's data.

The science (reading cells, scoring rows, what a bad row is) lives in :mod:`nblib.ml.predict`;
this module reads the run's artifacts and writes the output files.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from nblib.engine import artifacts as io
from nblib.ml.data.datasets import load_table, table_files, table_root
from nblib.ml.predict import OUTPUT_KINDS, BadRows, Prediction, check_output_path, predict_rows
from nblib.ml.saved import TRUSTED_TYPES, restored

__all__ = ["predict_file", "predict_partitions", "write_table", "rejects_path"]


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


def predict_partitions(
    model_path: str | Path,
    source: str | Path,
    out_dir: str | Path,
    *,
    on_bad_rows: str = "fail",
    n_jobs: int | None = None,
) -> list[tuple[Path, Prediction]]:
    """Score every partition of ``source`` (a folder or glob, :func:`~nblib.ml.data.datasets.table_files`)
    into ``out_dir``: one output partition per input partition, the same relative name and kind, rows in
    their order. Partitions are scored side by side through joblib (``n_jobs``; on a Dask cluster when
    joblib's backend is one, whose workers must share the folders). The folder appears whole or not at
    all: it is written beside ``out_dir`` under a hidden name and renamed once every partition's file is
    there; a bad row stops it (``on_bad_rows`` "fail") with one line naming the partition and the row,
    and nothing is left behind.

    Returns ``(output path, Prediction)`` per partition, in order.
    """
    import os
    import shutil
    import uuid

    from joblib import Parallel, delayed

    out_dir = Path(os.path.abspath(out_dir))
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ValueError(f"{out_dir}: exists and is not an empty folder; name a new output folder")
    if not out_dir.parent.exists():
        raise ValueError(f"{out_dir}: folder {out_dir.parent} does not exist")
    files = [Path(os.path.abspath(f)) for f in table_files(source)]
    root = Path(os.path.abspath(table_root(source)))
    names = [_output_name(f.relative_to(root)) for f in files]
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice is not None:
        raise ValueError(f"{source}: two partitions would both be written as {twice}; give them distinct names")
    model_path = Path(model_path)
    columns = io.read_json(model_path.parent / "columns.json")
    model = restored(io.read_model(model_path, TRUSTED_TYPES))
    partial = out_dir.parent / f".{out_dir.name}.partial-{uuid.uuid4().hex[:8]}"
    try:
        for name in names:  # made here: a worker that does not share the folder cannot write, and says so
            (partial / name).parent.mkdir(parents=True, exist_ok=True)
        results = Parallel(n_jobs=n_jobs)(
            delayed(_score_partition)(model, columns, f, partial / name, on_bad_rows)
            for f, name in zip(files, names, strict=True)
        )
        missing = [name for name in names if not (partial / name).is_file()]
        if missing:
            raise ValueError(f"{missing[0]}: its output did not appear in {out_dir.parent} (do the workers share it?)")
        if out_dir.exists():
            out_dir.rmdir()  # empty, checked above
        os.rename(partial, out_dir)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return [(out_dir / name, result) for name, result in zip(names, results, strict=True)]


def _output_name(name: Path) -> Path:
    """A partition's output name: Parquet stays Parquet, CSV and TSV (gzipped too) become CSV.

    >>> [_output_name(Path(n)).as_posix() for n in ("day=1/part-0.csv.gz", "part.0.parquet", "p.pq", "a.b.tsv")]
    ['day=1/part-0.csv', 'part.0.parquet', 'p.parquet', 'a.b.csv']
    """
    lower = name.name.lower()
    ending = next(e for e in (".parquet", ".pq", ".csv.gz", ".csv", ".tsv") if lower.endswith(e))
    kind = "parquet" if ending in (".parquet", ".pq") else "csv"
    return name.with_name(f"{name.name[: -len(ending)]}.{kind}")


def _score_partition(model, columns, path: Path, output: Path, on_bad_rows: str) -> Prediction:
    """One partition: scored into ``output`` (and its rejects beside it); a bad row names the partition."""
    if not output.parent.is_dir():
        raise ValueError(f"partition {path.name}: cannot write into {output.parent} from here (a worker must share it)")
    try:
        result = predict_rows(model, load_table(path), columns, on_bad_rows=on_bad_rows)
    except BadRows as exc:
        named = BadRows(f"partition {path.name}: {exc}")
        named.rejects = exc.rejects
        raise named from None
    except (KeyError, ValueError) as exc:  # a missing column, no rows: name the partition
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        raise ValueError(f"partition {path.name}: {text}") from None
    if on_bad_rows == "skip":
        write_table(result.rejects, rejects_path(output))
    write_table(result.scored, output)
    return result
