"""nblib: a Jupyter-first model factory.

Parameterized notebooks call into :mod:`nblib.ml`; :mod:`nblib.engine` executes
them with Papermill into dated, rendered reports.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
