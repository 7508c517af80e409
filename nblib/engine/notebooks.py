"""Executed notebooks, made stable: two runs that differ in one param differ only where it shows.

Papermill gives the cells it adds (the injected parameters, the error markers) a random id on every
run, and Jupyter stamps each executed cell with four kernel timestamps. Neither is read by anything
(papermill, nbconvert's HTML, nblib), and both turn an nbdiff of two runs into noise. ``stabilize``
fixes those ids and drops those timestamps; outputs, execution counts and papermill's own records
(durations, status, exception, parameters, paths) are kept, so the HTML renders as before.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from nblib.engine import artifacts as io

#: Fixed ids of the cells papermill adds (nbformat 4.5 ids: ``[A-Za-z0-9_-]{1,64}``).
INJECTED_ID = "papermill-parameters"
ERROR_ID = "papermill-error"
ERROR_ANCHOR_ID = "papermill-error-anchor"

_INJECTED_TAG = "injected-parameters"
_ERROR_TAG = "papermill-error-cell-tag"
_ANCHOR_MARK = 'id="papermill-error-cell"'  # papermill's anchor cell holds this span
_VOLATILE_CELL_METADATA = ("execution",)  # iopub/shell timestamps written by nbclient
#: A memory address in a repr (``<function as_str at 0x7f3a...>`` in a pipeline's diagram): it
#: differs on every run and turns a 2,500-line output into a deletion and an insertion.
_ADDRESS = re.compile(r"(?<= at )0x[0-9a-fA-F]{6,16}")


def stabilize(nb: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of the executed notebook ``nb`` (JSON as a dict) that diffs cleanly.

    - the injected parameters cell gets the id ``papermill-parameters``, papermill's error cells
      ``papermill-error`` and ``papermill-error-anchor`` (a numbered suffix keeps ids unique);
    - each cell loses ``metadata.execution`` (kernel timestamps) and an empty ``metadata.tags``.

    - memory addresses in text outputs (`` at 0x7f3a...``) read `` at 0x…``.

    Pure and idempotent; outputs are otherwise untouched. Notebooks older than nbformat 4.5 (no
    ids) get no ids.
    """
    nb = copy.deepcopy(nb)
    cells = nb.get("cells", [])
    wants_ids = (nb.get("nbformat", 0), nb.get("nbformat_minor", 0)) >= (4, 5)
    fixed: dict[int, str] = {}
    for i, cell in enumerate(cells):
        tags = cell.get("metadata", {}).get("tags") or []
        if _INJECTED_TAG in tags:
            fixed[i] = INJECTED_ID
        elif _ERROR_TAG in tags:
            fixed[i] = ERROR_ANCHOR_ID if _ANCHOR_MARK in _source(cell) else ERROR_ID
    taken = {c.get("id") for i, c in enumerate(cells) if i not in fixed}
    for i, base in fixed.items():
        new, n = base, 1
        while new in taken:
            n += 1
            new = f"{base}-{n}"
        taken.add(new)
        if wants_ids or "id" in cells[i]:
            cells[i]["id"] = new
    for cell in cells:
        metadata = cell.get("metadata")
        if not isinstance(metadata, dict):
            continue
        for key in _VOLATILE_CELL_METADATA:
            metadata.pop(key, None)
        if metadata.get("tags") == []:
            del metadata["tags"]
    for cell in cells:
        for output in cell.get("outputs", []):
            for mime, value in (output.get("data") or {}).items():
                if mime.startswith("text/"):
                    output["data"][mime] = _no_address(value)
            if "text" in output:
                output["text"] = _no_address(output["text"])
    return nb


def _no_address(value: Any) -> Any:
    if isinstance(value, list):
        return [_ADDRESS.sub("0x…", line) for line in value]
    return _ADDRESS.sub("0x…", value) if isinstance(value, str) else value


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def render_notebook_html(notebook: str | Path, out: str | Path) -> Path:
    """Render an executed notebook to standalone HTML (images embedded)."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook), as_version=4)
    body, _ = _exporter(HTMLExporter).from_notebook_node(nb)
    return io.write_text(out, body)


_EXPORTERS: dict[type, Any] = {}


def _exporter(cls):
    if cls not in _EXPORTERS:
        _EXPORTERS[cls] = cls(template_name="lab")
    return _EXPORTERS[cls]
