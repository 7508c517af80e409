"""The params schema of nblib: sections, keys, types and defaults.

One YAML file (or several, merged) describes a run. Loading goes through
:func:`load_params`, which validates everything and checks that the data source
exists and holds the target column *before* anything runs.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nblib.common.text import is_glob
from nblib.engine.errors import InputDataError, ParamsError
from nblib.engine.params import load_yaml_params, plain, shorten, suggest
from nblib.ml.evaluation.registry import METRIC_REGISTRY, TASKS, metric_range, test_metrics
from nblib.ml.training.families import DEFAULT_FAMILIES, FAMILY_NAMES

# scikit-learn and pandas are imported where they are needed, so that bad params
# are refused in a fraction of a second (the metric and family registries import neither)

__all__ = ["Params", "load_params", "resolve_data_path"]

#: Test metrics by task: what ``evaluate.gates`` may name (from the metric registry).
METRICS = {task: test_metrics(task) for task in TASKS}
_LOWER = ", ".join(m.name for m in METRIC_REGISTRY.values() if m.tested and m.lower_is_better)


class _Section(BaseModel):
    # strict: no "5" -> 5 or "yes" -> True; an int is still a float; no NaN or infinity
    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _section_is_mapping(cls, value: Any, info: Any) -> Any:
        """A section left empty (``train:``) takes its defaults; ``train: false`` is refused."""
        kind = cls.model_fields[info.field_name].annotation
        if isinstance(kind, type) and issubclass(kind, _Section) and not isinstance(value, (dict, kind)):
            if value is None:
                return {}
            raise ValueError(f"expected a mapping, got {type(value).__name__}")
        return value


class ColumnsSpec(_Section):
    """Column roles fixed by the user; anything not listed is inferred."""

    numeric: list[str] = []
    categorical: list[str] = []
    high_cardinality: list[str] = []
    boolean: list[str] = []
    text: list[str] = []
    date: list[str] = []
    ignore: list[str] = []
    post_outcome: list[str] = Field(
        [], description="columns known only after the outcome: always dropped, listed as leak suspects"
    )
    known_before_outcome: list[str] = Field(
        [], description="columns known before the outcome: never leak suspects (the leak check skips them and says so)"
    )

    @model_validator(mode="after")
    def _before_or_after(self) -> ColumnsSpec:
        both = [c for c in self.known_before_outcome if c in self.post_outcome]
        if both:
            raise ValueError(f"column {shorten(both[0])!r} is in both post_outcome and known_before_outcome")
        return self


class DataParams(_Section):
    """Where the data comes from and what to predict."""

    source: str = Field("generated", description="'generated' or a path to a CSV/Parquet file")
    n_rows: int = Field(20_000, ge=50, le=2_000_000, description="rows to generate (generated source only)")
    in_memory_rows: int = Field(
        2_000_000,
        ge=100,
        description="a table with more rows is never loaded whole: 01_eda and 02_preprocess work partition by "
        "partition (dask.dataframe), training and evaluation use a stated seeded sample of at most this many rows",
    )
    target: str
    task: Literal["classification", "regression"] = "classification"
    positive_class: str | int | bool | None = Field(
        None, description="the positive label of a two-class target; inferred for yes/no, true/false, 1/0 ..."
    )
    drop_columns: list[str] = []
    columns: ColumnsSpec = ColumnsSpec()
    group: str | None = Field(
        None,
        description="column naming the entity of each row (a patient, a vehicle, a customer): rows sharing "
        "a value stay on one side of the train/test split and in one CV fold; not a feature",
    )

    @property
    def is_generated(self) -> bool:
        return self.source == "generated"

    @field_validator("source")
    @classmethod
    def _a_possible_path(cls, value: str) -> str:
        if "\0" in value:
            raise ValueError("a path cannot hold a NUL character")
        if len(value.encode()) > 4096 or any(len(part.encode()) > 255 for part in Path(value).parts):
            raise ValueError("path too long (at most 255 bytes a folder or file name, 4096 in all)")
        return value


class QualityParams(_Section):
    """Data-quality checks run on the raw table."""

    max_missing_fraction: float = Field(
        0.5, ge=0, le=1, description="columns missing more get a warning (they are kept, with a missing indicator)"
    )
    leaks: Literal["warn", "drop", "fail"] = Field(
        "warn", description="leak suspects are kept with a warning, dropped, or stop the run (exit 3)"
    )
    leak_score_threshold: float = Field(
        0.99, ge=0.5, le=1, description="a column scoring this alone (ROC-AUC, R²) is a near-copy of the target"
    )
    leak_skill_share: float = Field(
        0.4, gt=0, le=1, description="a column group whose removal costs this share of a model's skill is a suspect"
    )
    leak_error_ratio: float = Field(2.0, gt=1, description="... or whose removal multiplies its error by this")
    leak_check_rows: int = Field(5000, ge=100, description="training rows sampled for the leak check")
    outlier_iqr_factor: float = Field(3.0, gt=0)


class PreprocessParams(_Section):
    """Cleaning, split and the tabular preprocessor."""

    test_size: float = Field(0.2, gt=0, lt=1)
    stratify: bool = True
    drop_duplicates: bool = Field(False, description="drop exact duplicate rows (default: keep them, grouped)")
    drop_near_duplicates: bool = Field(False, description="keep only the first row of each near-duplicate group")
    merge_label_variants: bool = Field(True, description="fold rare spelling variants into the frequent label")
    numeric_impute: Literal["mean", "median"] = "median"
    scale: bool = True
    add_missing_indicator: bool = True
    categorical_min_frequency: int = Field(10, ge=1)
    high_cardinality_threshold: int = Field(30, ge=2)


class TextParams(_Section):
    max_features: int = Field(2000, ge=1)
    ngram_max: int = Field(1, ge=1, le=3)
    min_df: int = Field(2, ge=1)
    svd_components: int = Field(
        48, ge=1, description="LSA size for models that need dense input (at most the vocabulary size - 1)"
    )
    max_chars: int = Field(20_000, ge=100, description="characters of each text cell read for features")


class DateParams(_Section):
    parts: list[
        Literal["year", "quarter", "month", "day", "dayofweek", "dayofyear", "is_weekend", "hour", "days_since_1970"]
    ] = Field(
        ["year", "month", "dayofweek", "dayofyear", "hour", "days_since_1970"],
        description="calendar parts of each date column; days_since_1970 is time itself (a trend, or the day "
        "a recording practice changed)",
    )
    cyclical: bool = True


class FeaturesParams(_Section):
    text: TextParams = TextParams()
    date: DateParams = DateParams()
    integer_codes: bool = Field(
        True,
        description="numeric columns of whole numbers with many values seen in several rows each (student, "
        "flight or branch numbers) also get a cross-fitted target encoding beside their value",
    )


class ImbalanceParams(_Section):
    """How class imbalance is handled (classification only); resampling happens inside each CV fold."""

    class_weight: Literal["none", "balanced"] = "none"
    strategy: Literal["none", "class_weight", "random_over", "random_under", "smote", "smote_nc", "adasyn", "gan"] = (
        Field("none", description="applied to the training part of each fold only")
    )
    compare: bool = Field(False, description="cross-validate every strategy side by side (best family)")
    gan_epochs: int = Field(100, ge=1, le=10_000, description="training epochs of the GAN oversampler")

    @property
    def sklearn_class_weight(self) -> str | None:
        """The value scikit-learn's ``class_weight`` expects."""
        if self.strategy == "class_weight":
            return "balanced"
        return None if self.class_weight == "none" else self.class_weight


class SearchParams(_Section):
    """Hyperparameter search within each family (spaces declared in nblib.ml.training.spaces)."""

    method: Literal["none", "grid", "random", "bayes", "halving"] = "none"
    n_trials: int = Field(20, ge=1, le=10_000, description="trials per family (random, bayes); seeded")
    spaces: dict[str, dict[str, Any]] = Field(
        {}, description="family -> {hyperparameter: [values] or {low, high, log}} narrowing the declared space"
    )


class TrainParams(_Section):
    """Model families compared by cross-validation; the best is refit on all training data."""

    cv_folds: int = Field(5, ge=2, le=20)
    search: SearchParams = SearchParams()
    time_budget_s: float | None = Field(None, gt=0, description="cap for the whole training stage, search included")
    ensemble: Literal["none", "selection", "voting", "stacking", "both"] = Field(
        "selection",
        description="selection: greedy weighted ensemble of all families (Caruana); voting over the top k "
        "and/or stacking; kept only when it beats the best single model by more than the fold noise",
    )
    ensemble_top_k: int = Field(3, ge=2, le=10)
    screen_rows: int | None = Field(
        20_000,
        ge=100,
        description="families are compared (and searched) on at most "
        "this many training rows; the winner is refit on all",
    )
    max_rows: int | None = Field(
        None,
        ge=100,
        description="train on at most this many training rows: with more, a stratified, seeded sample "
        "(stated on the pages); default: every training row",
    )
    learning_curve: bool = Field(True, description="score against training-set size for the chosen model")
    scoring: str | None = Field(None, description="sklearn scorer; default roc_auc or neg_root_mean_squared_error")
    models: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {name: {} for name in DEFAULT_FAMILIES["classification"]},
        description="model family -> hyperparameters; the default depends on data.task",
    )

    @field_validator("models")
    @classmethod
    def _at_least_one(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        if not value:
            raise ValueError("list at least one model family")
        return {k: dict(v or {}) for k, v in value.items()}


class EvaluateParams(_Section):
    bootstrap: int = Field(500, ge=0, description="bootstrap resamples for confidence intervals")
    confidence: float = Field(0.95, gt=0, lt=1)
    threshold: float = Field(0.5, gt=0, lt=1, description="decision threshold when threshold_by is fixed")
    threshold_by: Literal["fixed", "f1", "cost"] = Field(
        "f1", description="how the decision threshold is chosen, on out-of-fold training predictions"
    )
    cost: dict[Literal["fp", "fn"], float] = Field(
        {"fp": 1.0, "fn": 1.0}, description="cost of a false positive and a false negative (threshold_by: cost)"
    )
    gates: dict[str, float] = Field(
        {},
        description=f"metric -> bound the test metric must meet (minimum; maximum for {_LOWER}); "
        "a miss exits 3 and marks the run 'gated'",
    )
    slices: list[str] = Field(
        [], max_length=20, description="columns whose segments get their own test metrics, with counts and intervals"
    )
    importance_repeats: int = Field(
        5, ge=0, le=100, description="permutation-importance repeats on the test split (0: no importance)"
    )
    partial_dependence: int = Field(
        3, ge=0, le=10, description="partial-dependence plots for the top columns by importance"
    )
    promote: bool = Field(
        False,
        description="make this run's model the registry's @champion if a paired test on the same "
        "test rows says it beats the current champion (needs tracking)",
    )
    promote_level: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="significance level of that paired test (DeLong for ROC-AUC, paired bootstrap otherwise)",
    )
    require_promotion: bool = Field(
        False, description="a gate: a run whose model does not become champion exits 3 (needs promote)"
    )

    @field_validator("gates")
    @classmethod
    def _bounds_a_metric_can_meet(cls, value: dict[str, float]) -> dict[str, float]:
        for metric, bound in value.items():
            low, high = metric_range(metric)
            if not low <= bound <= high:
                raise ValueError(f"{shorten(metric)} lies between {low:g} and {high:g}, got {bound:g}")
        return value


class TrackingParams(_Section):
    """MLflow tracking: each run is one MLflow run; its final pipeline a registered model version."""

    enabled: bool = Field(True, description="log each run to MLflow (false: no tracking, no registry)")
    uri: str | None = Field(
        None,
        min_length=1,
        max_length=2000,
        description="MLflow tracking URI; default: a SQLite store in the reports folder (reports/.mlflow/)",
    )
    experiment: str = Field("nblib", min_length=1, max_length=200, description="MLflow experiment name")
    model_name: str | None = Field(
        None, min_length=1, max_length=200, description="registered model name; default: nblib-<params name>"
    )
    register_model: bool = Field(
        True, description="register the final pipeline of each succeeded run as a model version"
    )

    @field_validator("model_name")
    @classmethod
    def _a_registry_name(cls, value: str | None) -> str | None:
        if value is not None and any(c in value for c in "/:%'\"\n"):
            raise ValueError("a registered model name cannot hold / : % quotes or newlines")
        return value


class DaskParams(_Section):
    """Where ``compute.backend: dask`` runs: an existing scheduler, or a LocalCluster started for the run."""

    address: str | None = Field(
        None,
        max_length=300,
        description="an existing Dask scheduler (tcp://HOST:8786); empty: start a LocalCluster for the run",
    )
    n_workers: int = Field(2, ge=1, le=256, description="LocalCluster: worker processes")
    threads_per_worker: int = Field(1, ge=1, le=256, description="LocalCluster: threads in each worker")
    memory_limit: str = Field("auto", max_length=40, description="LocalCluster: memory per worker (2GB, auto)")
    dashboard: bool = Field(True, description="LocalCluster: serve the dashboard on a free local port")

    def local_cluster(self) -> dict[str, Any]:
        """The settings of a LocalCluster started for the run (without ``address``)."""
        return {
            "n_workers": self.n_workers,
            "threads_per_worker": self.threads_per_worker,
            "memory_limit": self.memory_limit,
        }

    @field_validator("address")
    @classmethod
    def _an_address(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from nblib.engine.cluster import parse_address

        parse_address(value.strip())
        return value.strip()

    @field_validator("memory_limit")
    @classmethod
    def _bytes(cls, value: str) -> str:
        if value.strip().lower() == "auto":
            return "auto"
        from dask.utils import parse_bytes

        try:
            size = parse_bytes(value.strip())
        except ValueError:
            raise ValueError(f"not a size: {value!r} (e.g. 2GB, 512MiB or auto)") from None
        if size < 256 * 2**20:
            raise ValueError(f"{value!r} is too little for a worker (at least 256MiB)")
        return value.strip()


class ComputeParams(_Section):
    """The one place where parallelism is configured."""

    backend: Literal["local", "dask"] = Field(
        "local", description="local: this machine's cores; dask: the tasks of each stage run on a Dask cluster"
    )
    dask: DaskParams = DaskParams()
    n_jobs: int = Field(-1, description="workers; -1 for all cores (with dask: all the cluster's threads)")
    cell_timeout_s: float | None = Field(
        None,
        gt=0,
        le=7 * 24 * 3600,
        description="a notebook cell that runs longer fails its stage (seconds; default: no limit)",
    )
    parallel_stages: int = Field(
        2, ge=1, le=64, description="stages that do not depend on each other run this many at a time"
    )

    @field_validator("n_jobs")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must be a positive number of workers or -1 for all cores")
        return value


class ScheduleParams(_Section):
    """When a scheduler (``nblib export airflow``) runs these params, and how it retries a stage."""

    cron: str | None = Field(
        None,
        max_length=200,
        description="a cron expression (0 3 * * 1) or preset (@daily, @weekly); empty: run only when triggered",
    )
    retries: int = Field(1, ge=0, le=20, description="tries of a failed stage after the first (exit 2: none)")
    retry_delay_s: float = Field(300, ge=0, le=7 * 24 * 3600, description="seconds between tries")
    timeout_s: float | None = Field(
        None, gt=0, le=7 * 24 * 3600, description="a stage that runs longer fails (seconds; default: no limit)"
    )
    catchup: bool = Field(False, description="also run the intervals missed since the first one (Airflow catchup)")

    @field_validator("cron")
    @classmethod
    def _a_cron_expression(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = " ".join(value.split())
        if value in PRESETS:
            return value
        from croniter import croniter

        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(
                f"not a cron expression: five fields, minute hour day month weekday (e.g. '0 3 * * 1'), "
                f"or one of {', '.join(PRESETS)}"
            )
        return value


#: The cron presets a schedule may name (those Airflow knows).
PRESETS = ("@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")


class NotifyParams(_Section):
    """Commands the run calls when it fails or its model becomes champion.

    Each runs through the shell with ``NBLIB_EVENT`` (failure or promotion), ``NBLIB_RUN_DIR``,
    ``NBLIB_RUN_ID``, ``NBLIB_STATUS``, ``NBLIB_REASON`` and, for a promotion, ``NBLIB_MODEL`` and
    ``NBLIB_MODEL_VERSION`` in its environment. A command that fails is reported, and changes no exit code.
    """

    on_failure: str | None = Field(
        None, max_length=4000, description="shell command run when a run fails, is gated or interrupted"
    )
    on_promotion: str | None = Field(
        None, max_length=4000, description="shell command run when the run's model becomes @champion"
    )
    timeout_s: float = Field(60, gt=0, le=3600, description="a notify command running longer is stopped")

    @field_validator("on_failure", "on_promotion")
    @classmethod
    def _a_command(cls, value: str | None) -> str | None:
        return value if value is not None and value.strip() else None


class Params(_Section):
    """A whole params file."""

    name: str | None = Field(None, max_length=100, description="names the run folder; default: the params file's stem")
    description: str = Field(
        "", max_length=2000, description="what the model is for and who uses it (the model card's intended use)"
    )
    seed: int = Field(
        42, ge=0, le=2**32 - 1, description="seeds every random step (numpy and scikit-learn accept 0 to 2**32 - 1)"
    )
    data: DataParams
    quality: QualityParams = QualityParams()
    preprocess: PreprocessParams = PreprocessParams()
    features: FeaturesParams = FeaturesParams()
    imbalance: ImbalanceParams = ImbalanceParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()
    tracking: TrackingParams = TrackingParams()
    compute: ComputeParams = ComputeParams()
    schedule: ScheduleParams = ScheduleParams()
    notify: NotifyParams = NotifyParams()

    @field_validator("name")
    @classmethod
    def _fits_a_folder_name(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode()) > 200:
            raise ValueError("too long for a folder name: at most 200 bytes of UTF-8")
        return value

    @model_validator(mode="before")
    @classmethod
    def _models_for_task(cls, data: Any) -> Any:
        """Without ``train.models``, compare the task's default families with their default settings."""
        if isinstance(data, dict) and isinstance(data.get("data"), dict):
            task = data["data"].get("task", "classification")
            train = data["train"] = {} if data.get("train") is None else data["train"]
            if isinstance(train, dict) and "models" not in train and isinstance(task, str) and task in DEFAULT_FAMILIES:
                train["models"] = {name: {} for name in DEFAULT_FAMILIES[task]}
        return data

    @model_validator(mode="after")
    def _check_task_names(self) -> Params:
        task = self.data.task
        for metric in self.evaluate.gates:
            if metric not in METRICS[task]:
                raise ValueError(
                    f"evaluate.gates.{shorten(metric)}: not a {task} metric"
                    f"{suggest(metric, METRICS[task])}; choose from {', '.join(METRICS[task])}"
                )
        known = FAMILY_NAMES[task]
        for name in self.train.models:
            if name not in known:
                raise ValueError(
                    f"train.models.{shorten(name)}: unknown model family for {self.data.task}"
                    f"{suggest(name, known)}; choose from {', '.join(known)}"
                )
        from sklearn.metrics import get_scorer_names

        from nblib.ml.training.families import check_hyperparameters

        if self.train.scoring is not None and self.train.scoring not in get_scorer_names():
            raise ValueError(
                f"train.scoring: unknown scorer {shorten(self.train.scoring)!r}"
                f"{suggest(self.train.scoring, list(get_scorer_names()))}"
            )
        for name, hyper in self.train.models.items():
            problem = check_hyperparameters(name, task, hyper)
            if problem:
                raise ValueError(f"train.models.{name}.{problem}")
        from nblib.ml.training.spaces import check_narrowing

        for name, narrowing in self.train.search.spaces.items():
            if name not in self.train.models:
                raise ValueError(
                    f"train.search.spaces.{shorten(name)}: not a family in train.models"
                    f"{suggest(name, list(self.train.models))}"
                )
            problem = check_narrowing(name, task, narrowing)
            if problem:
                raise ValueError(problem)
        if self.evaluate.promote and not self.tracking.enabled:
            raise ValueError("evaluate.promote: needs tracking.enabled (the champion lives in the MLflow registry)")
        if self.evaluate.promote and not self.tracking.register_model:
            raise ValueError(
                "evaluate.promote: needs tracking.register_model (only a registered version can be champion)"
            )
        if self.evaluate.require_promotion and not self.evaluate.promote:
            raise ValueError("evaluate.require_promotion: needs evaluate.promote: true")
        if self.data.task == "regression" and self.imbalance.strategy not in ("none",):
            raise ValueError(
                f"imbalance.strategy: {self.imbalance.strategy} is for classification; this task is regression"
            )
        return self

    def training_settings(self) -> dict[str, Any]:
        """The keyword arguments of :func:`nblib.ml.training.trainer.train` these params set (values, not params)."""
        train = self.train
        return {
            "cv_folds": train.cv_folds,
            "scoring": train.scoring,
            "svd_components": self.features.text.svd_components,
            "class_weight": self.imbalance.sklearn_class_weight,
            "imbalance": self.imbalance.model_dump(),
            "search": train.search.model_dump(),
            "ensemble": train.ensemble,
            "ensemble_top_k": train.ensemble_top_k,
            "threshold": {
                "by": self.evaluate.threshold_by,
                "fixed": self.evaluate.threshold,
                "cost": dict(self.evaluate.cost),
            },
            "time_budget_s": train.time_budget_s,
            "screen_rows": train.screen_rows,
            "max_rows": train.max_rows,
            "learning_curve": train.learning_curve,
            "random_state": self.seed,
            "n_jobs": self.compute.n_jobs,
        }

    def sections(self, names: tuple[str, ...]) -> dict[str, Any]:
        """The named sections (or ``section.key`` parts) as plain data (what a stage's cache key depends on)."""
        out = {}
        for name in names:
            value: Any = self
            for part in name.split("."):
                value = getattr(value, part)
            out[name] = plain(value) if isinstance(value, BaseModel) else value
        return out

    def declared(self, stage: str, names: tuple[str, ...]) -> Params:
        """A copy in which only the sections ``names`` (and ``compute``) can be read.

        Reading any other section raises :class:`UndeclaredParams`: a stage that read params
        its declaration does not list would be reused from the cache after they changed.
        """
        whole = {n for n in names if "." not in n}
        parts: dict[str, set[str]] = {}
        for n in names:
            if "." in n:
                section, key = n.split(".", 1)
                parts.setdefault(section, set()).add(key)
        update = {}
        for section, _field in type(self).model_fields.items():
            if section in whole or section == "compute" or not isinstance(getattr(self, section), BaseModel):
                continue
            update[section] = _SectionView(stage, section, getattr(self, section), parts.get(section, set()))
        return self.model_copy(update=update)


def load_params(paths: list[str | Path] | str | Path, overrides: list[str] = (), *, check_data: bool = True) -> Params:
    """Load and validate params; see :func:`nblib.engine.params.load_yaml_params`.

    With ``check_data`` the data source must exist and hold the target and every
    column the params name. A relative ``data.source`` is resolved (from the
    working directory, else beside the params file) and stored absolute.

    Raises
    ------
    ParamsError
        One line naming the file and key (exit code 2).
    InputDataError
        The data file's target cannot serve the task (exit code 2).
    """
    params, label = load_yaml_params(paths, overrides, schema=Params)
    if not params.data.is_generated:
        base = Path(paths if isinstance(paths, (str, Path)) else paths[-1]).parent
        params.data.source = str(resolve_data_path(params.data.source, base))
    if check_data:
        _check_data_source(params, label)
    return params


def resolve_data_path(source: str, base: Path) -> Path:
    """A relative data path is looked up from the working directory, then beside the params file."""
    path = Path(source).expanduser()
    if is_glob(source):  # a pattern of partitions: matches here, else beside the params file
        import glob

        if path.is_absolute() or glob.glob(str(path), recursive=True):
            return Path(os.path.abspath(path))
        return Path(os.path.abspath(base / path))
    if path.is_absolute() or path.exists():
        return path.resolve()
    return (base / path).resolve()


# --------------------------------------------------------------------------- helpers


def _check_data_source(params: Params, label: str) -> None:
    from nblib.ml.data.datasets import generated_columns, load_table, table_columns, table_files

    data = params.data
    if data.is_generated:
        known = generated_columns()
    else:
        path = Path(data.source)
        if not path.exists() and not is_glob(data.source):
            raise ParamsError(
                f"{label}: data.source: file not found: {path.name} "
                f"(looked in the working directory and in {path.parent})"
            )
        try:
            table_files(path)
        except (OSError, ValueError) as exc:
            raise ParamsError(f"{label}: data.source: {exc}") from None
        try:
            known = table_columns(path)
        except Exception as exc:  # noqa: BLE001 - any reader failure is bad input
            raise ParamsError(f"{label}: data.source: cannot read {path.name}: {exc}") from None
    where = "the generated dataset" if data.is_generated else Path(data.source).name
    if data.target not in known:
        raise ParamsError(f"{label}: data.target: column {data.target!r} not in {where}{suggest(data.target, known)}")
    named = [*data.drop_columns, *(c for cols in data.columns.model_dump().values() for c in cols)]
    for column in named:
        if column not in known:
            raise ParamsError(f"{label}: data: column {column!r} not in {where}{suggest(column, known)}")
    if data.group is not None:
        _check_group(data, known, where, label)
    for column in params.evaluate.slices:
        if column not in known or column == data.target:
            what = "is the target" if column == data.target else f"not in {where}{suggest(column, known)}"
            raise ParamsError(f"{label}: evaluate.slices: column {column!r} {what}")
    if not data.is_generated:
        y = load_table(data.source, columns=[data.target])[data.target]
        problem = _target_problem(y, data.task, data.positive_class, params.preprocess.test_size)
        if problem:
            raise InputDataError(f"{Path(data.source).name}: column {data.target!r} (data.target): {problem}")
    elif data.positive_class is not None and str(data.positive_class) not in ("1", "True"):
        raise ParamsError(
            f"{label}: data.positive_class: the generated target's classes are 0 and 1, "
            f"got {shorten(data.positive_class)!r}"
        )


def _check_group(data: DataParams, known: list[str], where: str, label: str) -> None:
    """``data.group`` names a column that is kept, is not the target, and has at least two entities."""
    group = data.group
    if group not in known:
        raise ParamsError(f"{label}: data.group: column {shorten(group)!r} not in {where}{suggest(group, known)}")
    if group == data.target:
        raise ParamsError(
            f"{label}: data.group: column {group!r} is the target; name the column of the entity "
            f"(patient, vehicle, customer) whose rows belong together"
        )
    dropped = [
        key
        for key, cols in (
            ("data.drop_columns", data.drop_columns),
            ("data.columns.post_outcome", data.columns.post_outcome),
        )
        if group in cols
    ]
    if dropped:
        raise ParamsError(f"{label}: data.group: column {group!r} is also in {dropped[0]}, which drops it")
    if not data.is_generated:
        from nblib.ml.data.datasets import load_table

        n = load_table(data.source, columns=[group])[group].nunique()
        if n < 2:
            raise InputDataError(
                f"{Path(data.source).name}: column {group!r} (data.group): {n} distinct value(s); "
                f"a split needs at least 2 entities"
            )


MAX_CLASSES = 50


def _target_problem(y, task: str, positive_class: Any = None, test_size: float = 0.2) -> str | None:
    """Why ``y`` cannot be the target of ``task`` (on a table of this shape), or None."""
    import pandas as pd

    from nblib.ml.data.parse import number_share
    from nblib.ml.data.target import TargetError, class_labels, encode_target

    y = y.dropna()
    if len(y) < 20:
        return f"only {len(y)} rows with a target value; need at least 20"
    if task == "regression":
        if not pd.api.types.is_numeric_dtype(y) and number_share(y) < 0.95:
            return f"regression needs a numeric target, found {y.dtype} values such as {shorten(y.iloc[0])!r}"
        return None
    shown, counts, _ = class_labels(y)
    numeric = pd.api.types.is_numeric_dtype(y) or number_share(y) >= 0.95
    if len(shown) > MAX_CLASSES:
        return f"{len(shown)} distinct values; classification takes at most {MAX_CLASSES} classes" + (
            "; for a numeric target set data.task: regression" if numeric else ""
        )
    try:
        encode_target(y, positive_class)
    except TargetError as exc:
        return str(exc)
    rare = [f"{shorten(shown[k])!r} ({n})" for k, n in counts.items() if n < 3]
    if rare:
        return (
            f"class {', '.join(rare)} has fewer than 3 rows: too few to keep one for the test split and "
            f"two for cross-validation; merge or remove it"
        )
    n_test = math.ceil(test_size * len(y))  # as scikit-learn's train_test_split counts it
    if n_test < len(shown):
        return (
            f"{len(y)} rows give a test split of {n_test} rows, fewer than the {len(shown)} classes; "
            f"raise preprocess.test_size"
        )
    # the stratified split keeps about (1 - test_size) of each class for training; cross-validation (at
    # least 2 folds, each class in every fold) needs 2 of them
    thin = [
        f"{shorten(shown[k])!r} ({n} rows, about {n * (1 - test_size):.1f} for training)"
        for k, n in counts.items()
        if n * (1 - test_size) < 2
    ]
    if thin:
        return (
            f"class {', '.join(thin)} leaves fewer than 2 rows for training with preprocess.test_size "
            f"{test_size:g}; cross-validation needs 2; lower preprocess.test_size, or merge or remove the class"
        )
    return None


class UndeclaredParams(Exception):
    """A stage read params its declaration in ``nblib/pipeline.py`` does not list."""


class _SectionView:
    """A params section of which a stage may read only ``allowed`` keys."""

    def __init__(self, stage: str, section: str, value: BaseModel, allowed: set[str]):
        self._stage, self._section, self._value, self._allowed = stage, section, value, allowed

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._allowed:
            return getattr(self._value, name)
        raise UndeclaredParams(
            f"{self._stage} reads params.{self._section}.{name}, which its declaration in nblib/pipeline.py "
            f"does not list; add '{self._section}' (or '{self._section}.{name}') to its sections, or its "
            f"cached result would be reused after that param changed"
        )
