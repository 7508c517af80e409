"""Feature engineering: text TF-IDF with LSA, date parts, and the helpers that feed them.

The estimators live in :mod:`nblib.ml.features.encoders`; they are re-exported here because models
saved with skops name them by this package's path (``nblib.ml.features.TextTfidf``).
"""

from nblib.ml.features.encoders import *  # noqa: F403 (the public names, listed in encoders.__all__)
from nblib.ml.features.encoders import __all__, _fill_text  # noqa: F401 (_fill_text: saved models name it here)
