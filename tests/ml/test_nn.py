"""The multilayer perceptrons: they learn, every training strategy runs, they are seeded,
they save with skops, and building them needs no PyTorch."""

import subprocess
import sys

import numpy as np
import pytest
import skops.io as sio
from scipy import sparse
from sklearn.datasets import make_classification, make_regression
from sklearn.metrics import r2_score, roc_auc_score

from nblib.ml.saved import TRUSTED_TYPES
from nblib.ml.training.families import check_hyperparameters, make_model
from nblib.ml.training.nn import HISTORY_COLUMNS, MLPClassifier, MLPRegressor


@pytest.fixture(scope="module")
def torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


@pytest.fixture(scope="module")
def binary():
    return make_classification(400, 10, n_informative=4, random_state=0)


def small(n=120, seed=0):
    return make_classification(n, 6, n_informative=3, random_state=seed)


def test_classifier_learns_a_toy_problem(torch, binary):
    X, y = binary
    model = MLPClassifier(random_state=0).fit(X[:300], y[:300])
    assert roc_auc_score(y[300:], model.predict_proba(X[300:])[:, 1]) > 0.8  # logistic regression: 0.73
    assert model.n_features_in_ == 10 and list(model.classes_) == [0, 1]
    history = model.history_
    assert tuple(history.columns) == HISTORY_COLUMNS
    assert len(history) == model.n_iter_ and list(history["epoch"]) == list(range(1, model.n_iter_ + 1))
    assert history["valid_score"].iloc[-1] > 0.6 and history[["train_loss", "valid_loss", "lr"]].notna().all().all()


def test_regressor_learns_in_the_units_of_y(torch):
    X, y = make_regression(300, 8, n_informative=4, noise=10, random_state=0)
    y = 1000 * y + 50_000  # far from the standardised scale the net trains on
    model = MLPRegressor(random_state=0).fit(X[:220], y[:220])
    assert r2_score(y[220:], model.predict(X[220:])) > 0.5
    assert model.history_["valid_score"].iloc[-1] > 0.5  # R² on the validation split


def test_multiclass_with_string_labels(torch):
    X, y = make_classification(150, 6, n_informative=4, n_classes=3, random_state=0)
    labels = np.array(["low", "mid", "high"])[y]
    model = MLPClassifier(max_epochs=5, random_state=0, class_weight="balanced").fit(X, labels)
    proba = model.predict_proba(X)
    assert list(model.classes_) == ["high", "low", "mid"] and proba.shape == (150, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(model.predict(X)) <= set(labels)


@pytest.mark.parametrize("schedule", ["none", "step", "cosine", "onecycle"])
def test_every_lr_schedule_runs(torch, schedule):
    X, y = small()
    model = MLPClassifier(lr_schedule=schedule, lr=0.01, max_epochs=3, patience=None, random_state=0).fit(X, y)
    lr = model.history_["lr"].to_numpy()
    assert len(lr) == 3
    if schedule == "none":
        np.testing.assert_allclose(lr, 0.01)
    elif schedule == "step":  # a tenth after each third of the epochs
        np.testing.assert_allclose(lr, [0.01, 0.001, 0.0001])
    elif schedule == "cosine":
        assert lr[0] == pytest.approx(0.01) and lr[0] > lr[1] > lr[2] > 0
    else:  # one cycle starts at a 25th of the peak and warms up
        assert lr[0] == pytest.approx(0.01 / 25) and lr[1] > lr[0]


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd"])
def test_every_optimizer_runs(torch, optimizer):
    X, y = small()
    model = MLPRegressor(optimizer=optimizer, hidden_sizes=(16, 8), max_epochs=2, random_state=0).fit(X, y * 1.0)
    assert model.n_iter_ == 2 and [W.shape for W in model.coefs_] == [(6, 16), (16, 8), (8, 1)]
    assert np.isfinite(model.predict(X)).all()


def test_l1_shrinks_the_weights(torch):
    X, y = small(200)
    kwargs = {"max_epochs": 15, "patience": None, "lr": 0.01, "weight_decay": 0.0, "random_state": 0}
    plain = MLPClassifier(**kwargs).fit(X, y)
    sparse_ = MLPClassifier(l1=0.01, **kwargs).fit(X, y)

    def total(model):
        return sum(np.abs(W).sum() for W in model.coefs_)

    assert total(sparse_) < 0.8 * total(plain)


def test_early_stopping_stops_on_a_plateau_and_keeps_the_best_epoch(torch):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 6)), rng.integers(0, 2, 200)  # nothing to learn: the validation loss stalls
    model = MLPClassifier(lr=0.02, lr_schedule="none", max_epochs=200, patience=3, random_state=0).fit(X, y)
    assert model.n_iter_ < 200
    assert model.best_epoch_ == model.n_iter_ - 3
    history = model.history_
    assert history["valid_loss"].idxmin() == model.best_epoch_ - 1


def test_seeded_runs_are_identical_and_leave_the_global_torch_state_alone(torch):
    X, y = small()
    kwargs = {"max_epochs": 4, "dropout": 0.3, "random_state": 7}
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    first = MLPClassifier(**kwargs).fit(X, y)
    assert torch.rand(1) == expected
    second = MLPClassifier(**kwargs).fit(X, y)
    for a, b in zip(first.coefs_, second.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(first.history_["train_loss"], second.history_["train_loss"])
    other = MLPClassifier(**{**kwargs, "random_state": 8}).fit(X, y)
    assert not np.array_equal(first.coefs_[0], other.coefs_[0])


def test_sparse_input_gives_the_dense_result(torch):
    X, y = small()
    X[X < 0] = 0
    dense = MLPClassifier(max_epochs=3, random_state=0).fit(X, y)
    from_sparse = MLPClassifier(max_epochs=3, random_state=0).fit(sparse.csr_matrix(X), y)
    np.testing.assert_array_equal(dense.predict_proba(X), from_sparse.predict_proba(sparse.csr_matrix(X)))


def test_small_data_trains_without_a_validation_split(torch):
    X, y = small(12)
    model = MLPClassifier(max_epochs=3, random_state=0).fit(X, y)
    assert model.n_iter_ == 3 and model.history_["valid_loss"].isna().all()


def test_tensorboard_event_files(torch, tmp_path):
    pytest.importorskip("tensorboard")
    X, y = small()
    MLPClassifier(max_epochs=2, random_state=0, tensorboard_dir=tmp_path / "tb").fit(X, y)
    events = list((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0


def test_the_trained_model_keeps_no_run_folder_path(torch, tmp_path):
    """Issue 15: the final MLP kept the absolute run folder (its tensorboard_dir) inside model.skops.
    The events are written by the final fit; the saved model names no folder of the run."""
    pytest.importorskip("tensorboard")
    import io
    import zipfile

    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import StandardScaler

    from nblib.ml.training.trainer import train

    X, y = small()
    X, y = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)]), pd.Series(y)
    folder = tmp_path / "reports" / "day" / "run" / "artifacts" / "tensorboard"
    result = train(
        X,
        y,
        ColumnTransformer([("num", StandardScaler(), list(X.columns))]),
        {"mlp": {"max_epochs": 2, "hidden_sizes": (8,)}},
        task="classification",
        cv_folds=2,
        threshold=None,
        learning_curve=False,
        tensorboard_dir=str(folder),
        random_state=0,
    )
    assert list(folder.glob("events.out.tfevents.*"))
    assert result.model.get_params()["model__tensorboard_dir"] is None
    saved = zipfile.ZipFile(io.BytesIO(sio.dumps(result.model)))
    assert not [name for name in saved.namelist() if str(tmp_path).encode() in saved.read(name)]


def test_fit_logged_sets_the_folder_for_one_fit_only(torch, tmp_path):
    from sklearn.pipeline import Pipeline

    from nblib.ml.training.nn import fit_logged

    pytest.importorskip("tensorboard")
    X, y = small()
    pipe = Pipeline([("model", MLPClassifier(max_epochs=2, random_state=0, tensorboard_dir="kept"))])
    assert fit_logged(pipe, X, y, tmp_path / "tb") is pipe
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert pipe.get_params()["model__tensorboard_dir"] == "kept"  # what it was before
    plain = MLPClassifier(max_epochs=2, random_state=0)
    fit_logged(plain, X, y, None)
    assert plain.tensorboard_dir is None and plain.n_iter_ == 2


def test_skops_round_trip_with_the_allow_list(torch, tmp_path):
    X, y = small()
    for model, method in (
        (MLPClassifier(max_epochs=3, random_state=0).fit(X, y), "predict_proba"),
        (MLPRegressor(max_epochs=3, random_state=0).fit(X, y * 2.0), "predict"),
    ):
        path = tmp_path / "m.skops"
        sio.dump(model, path)
        assert set(sio.get_untrusted_types(file=path)) <= set(TRUSTED_TYPES)
        loaded = sio.load(path, trusted=list(TRUSTED_TYPES))
        np.testing.assert_array_equal(getattr(model, method)(X), getattr(loaded, method)(X))
        assert loaded.history_.equals(model.history_)


def test_the_family_is_registered_with_its_defaults():
    for task in ("classification", "regression"):
        model = make_model("mlp", task, random_state=3)
        params = model.get_params()
        assert params["random_state"] == 3 and params["hidden_sizes"] == (64,) and params["max_epochs"] == 60
        assert params["lr_schedule"] == "cosine" and params["patience"] == 8
    assert make_model("mlp", "classification", class_weight="balanced").class_weight == "balanced"


def test_bad_hyperparameters_are_caught_before_fitting():
    assert check_hyperparameters("mlp", "classification", {"optimizer": "adagrad"}).startswith("optimizer: ")
    assert "did you mean 'hidden_sizes'" in check_hyperparameters("mlp", "regression", {"hidden_size": (8,)})
    assert check_hyperparameters("mlp", "regression", {"hidden_sizes": [32, 16], "lr_schedule": "onecycle"}) is None
    with pytest.raises(ValueError, match="hidden_sizes must be positive integers"):
        MLPClassifier(hidden_sizes=(8, 0)).fit(*small())
    with pytest.raises(ValueError, match="one class"):
        MLPClassifier().fit(np.zeros((30, 2)), np.ones(30))


def test_building_and_checking_the_family_imports_no_torch():
    code = (
        "import sys\n"
        "from nblib.ml.training.families import check_hyperparameters, make_model\n"
        "make_model('mlp', 'classification').get_params()\n"
        "make_model('mlp', 'regression', {'hidden_sizes': (8,)}).get_params()\n"
        "assert check_hyperparameters('mlp', 'classification', {'lr': 0.01}) is None\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'skorch', 'tensorboard'))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
