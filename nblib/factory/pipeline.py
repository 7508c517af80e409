"""The nblib pipeline: five notebooks, what each reads and writes, and its params sections.

This is the one place where stage inputs and outputs are declared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nblib.engine import artifacts as io
from nblib.engine.dag import Pipeline, Stage

__all__ = ["PIPELINE", "headline_metrics"]


def headline_metrics(run_dir: str | Path) -> dict[str, Any]:
    """The numeric test metrics of ``artifacts/metrics.json`` (empty if there are none)."""
    try:
        metrics = io.read_json(Path(run_dir) / "artifacts" / "metrics.json")
    except (OSError, ValueError):
        return {}
    test = metrics.get("test", {}) if isinstance(metrics, dict) else {}
    return {k: v for k, v in test.items() if isinstance(v, (int, float))}


PIPELINE = Pipeline(
    [
        Stage(
            "01_eda",
            title="Exploratory data analysis and quality checks",
            outputs={"raw": "raw.parquet", "oracle": "oracle.parquet", "quality": "quality.json"},
            optional_outputs=("oracle",),
            # only the quality keys 01 reads: changing quality.leaks (read by 02) must not rerun 01
            sections=("seed", "data", "quality.max_missing_fraction", "quality.outlier_iqr_factor"),
        ),
        Stage(
            "02_preprocess",
            title="Cleaning, split and preprocessing",
            inputs={"raw": "raw.parquet", "quality": "quality.json"},
            outputs={
                "train": "train.parquet",
                "test": "test.parquet",
                "columns": "columns.json",
                "preprocessor": "preprocessor.skops",
                "cleaning": "cleaning.json",
                "leaks": "leaks.json",
            },
            sections=("seed", "data", "quality", "preprocess"),
        ),
        Stage(
            "03_features",
            title="Feature engineering",
            inputs={"train": "train.parquet", "columns": "columns.json", "preprocessor": "preprocessor.skops"},
            outputs={"features": "features.skops", "feature_summary": "features.json"},
            sections=("seed", "data", "features", "preprocess.high_cardinality_threshold"),
        ),
        Stage(
            "04_train",
            title="Model comparison by cross-validation",
            inputs={"train": "train.parquet", "columns": "columns.json", "features": "features.skops"},
            # tensorboard: the event files of a neural net's final fit (a folder; absent for other models)
            outputs={"model": "model.skops", "cv": "cv_results.json", "tensorboard": "tensorboard/"},
            optional_outputs=("tensorboard",),
            # not compute: n_jobs changes the speed, not the result (folds are seeded; a bayes search asks for
            # fixed, seeded batches of trials: nblib.ml.training.search.BAYES_BATCH); the decision threshold
            # is chosen here, on out-of-fold predictions
            sections=(
                "seed",
                "data",
                "features",
                "imbalance",
                "train",
                "evaluate.threshold_by",
                "evaluate.threshold",
                "evaluate.cost",
            ),
        ),
        Stage(
            "05_evaluate",
            title="Evaluation on the held-out test split",
            inputs={
                "test": "test.parquet",
                "train": "train.parquet",
                "columns": "columns.json",
                "model": "model.skops",
                "cv": "cv_results.json",
                "oracle": "oracle.parquet",
                "leaks": "leaks.json",  # a model that keeps a likely leak is never promoted
            },
            optional_inputs=("oracle",),
            outputs={
                "metrics": "metrics.json",
                "predictions": "predictions.parquet",
                "explain": "explain.json",
                "promotion": "promotion.json",
            },
            # tracking: with evaluate.promote, the new model is compared with the registry's champion
            # (the app adds who the champion is to this stage's cache key)
            sections=("seed", "data", "evaluate", "tracking"),
        ),
    ],
    headline=headline_metrics,
)
