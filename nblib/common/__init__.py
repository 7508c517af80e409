"""Small helpers every layer may use (the bottom of the house): nothing here imports the rest of nblib.

* :mod:`nblib.common.text` — ``suggest`` ("did you mean"), ``one_line`` / ``clip`` (one-line
  messages), ``slug`` (safe file names from anything)
* :mod:`nblib.common.jsonsafe` — ``jsonable``, ``json_default``, ``finite`` (values as JSON)
* :mod:`nblib.common.locks` — ``file_lock`` (one inter-process lock)
"""
