"""A run's final pipeline as an MLflow pyfunc model, written as *models from code* (no pickle).

MLflow executes this file when the model is loaded (``mlflow.pyfunc.load_model``).
:meth:`NblibModel.load_context` reads the run's skops file with nblib's explicit list of
trusted types — a file naming any other type is refused — and :meth:`NblibModel.predict`
scores raw rows exactly like ``nblib predict``: the input columns unchanged plus ``proba``
(two classes) or one ``proba_<class>`` per class, and ``prediction`` in the user's labels.

The environment that loads the model needs nblib itself (the version is in the model's
metadata), besides the pinned packages in its requirements.
"""

from __future__ import annotations

import mlflow
from mlflow.pyfunc import PythonModel


class NblibModel(PythonModel):
    """Loads ``model.skops`` with :data:`nblib.ml.saved.TRUSTED_TYPES`; scores raw rows."""

    _skip_type_hint_validation = True  # raw rows of any table: cleaned by nblib, not by a schema

    def load_context(self, context) -> None:
        from nblib.engine import artifacts as io
        from nblib.ml.saved import TRUSTED_TYPES, restored

        self.model = restored(io.read_model(context.artifacts["model"], TRUSTED_TYPES))
        self.columns = io.read_json(context.artifacts["columns"])  # the decision threshold is the model's own

    def predict(self, context, model_input, params=None):
        import pandas as pd

        from nblib.ml.predict import predict_frame

        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        return predict_frame(self.model, frame, self.columns)


mlflow.models.set_model(NblibModel())
