"""Per-iteration curves of iterative models (inside pipelines and wrappers) and learning curves."""

import numpy as np
import pytest
from matplotlib.figure import Figure
from sklearn.datasets import make_classification
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    VotingClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    FixedThresholdClassifier,
    GroupKFold,
    StratifiedKFold,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from nblib.ml.training.curves import (
    CURVE_COLUMNS,
    iteration_curves,
    learning_curve_frame,
    plot_iteration_curves,
    plot_learning_curve,
)


@pytest.fixture(scope="module")
def data():
    return make_classification(300, 8, n_informative=4, random_state=0)


def hgb(**kwargs):
    return HistGradientBoostingClassifier(max_iter=20, early_stopping=True, random_state=0, **kwargs)


def test_boosting_curves_from_a_pipeline(data):
    X, y = data
    pipe = Pipeline([("scale", StandardScaler()), ("model", hgb())]).fit(X, y)
    curves = iteration_curves(pipe, name="hist_gradient_boosting")
    model = pipe.named_steps["model"]
    assert tuple(curves.columns) == CURVE_COLUMNS
    assert list(curves["iteration"]) == list(range(model.n_iter_ + 1))  # 0: before the first round
    assert set(curves["model"]) == {"hist_gradient_boosting"} and set(curves["unit"]) == {"iteration"}
    np.testing.assert_allclose(curves["train_loss"], -model.train_score_)
    np.testing.assert_allclose(curves["valid_loss"], -model.validation_score_)
    assert curves["train_loss"].iloc[-1] < curves["train_loss"].iloc[0]
    assert list(curves.loc[curves["kept"], "iteration"]) == [model.n_iter_]


def test_boosting_with_a_scorer_gives_score_curves(data):
    X, y = data
    curves = iteration_curves(hgb(scoring="roc_auc").fit(X, y))
    assert curves["train_score"].notna().all() and curves["train_loss"].isna().all()
    assert set(curves["metric"]) == {"roc_auc"} and set(curves["model"]) == {"HistGradientBoostingClassifier"}


def test_neg_scorers_lose_their_sign():
    X, y = make_classification(200, 5, random_state=0)
    curves = iteration_curves(
        HistGradientBoostingRegressor(max_iter=10, early_stopping=True, scoring="neg_mean_absolute_error").fit(
            X, y * 1.0
        )
    )
    assert set(curves["metric"]) == {"mean_absolute_error"} and (curves["valid_score"] > 0).all()


def test_models_without_curves_give_none(data):
    X, y = data
    assert iteration_curves(LogisticRegression().fit(X, y)) is None
    assert iteration_curves(HistGradientBoostingClassifier(max_iter=5, early_stopping=False).fit(X, y)) is None


def test_mlp_curves_and_wrapped_ensembles(data):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from nblib.ml.training.nn import MLPClassifier

    X, y = data
    mlp = MLPClassifier(max_epochs=6, random_state=0).fit(X, y)
    curves = iteration_curves(mlp)
    assert len(curves) == mlp.n_iter_ and set(curves["unit"]) == {"epoch"} and set(curves["metric"]) == {"roc_auc"}
    assert list(curves.loc[curves["kept"], "iteration"]) == [mlp.best_epoch_]
    assert curves[["train_loss", "valid_loss", "valid_score", "lr"]].notna().all().all()

    vote = VotingClassifier(
        [("boost", hgb()), ("linear", LogisticRegression()), ("net", MLPClassifier(max_epochs=4, random_state=0))],
        voting="soft",
    )
    wrapped = Pipeline([("scale", StandardScaler()), ("model", FixedThresholdClassifier(vote, threshold=0.3))])
    curves = iteration_curves(wrapped.fit(X, y))
    assert list(curves["model"].unique()) == ["boost", "net"]
    fig = plot_iteration_curves(curves, "Training curves")
    assert isinstance(fig, Figure) and len(fig.axes) == 2


def test_plots_escape_names_and_handle_nothing(data):
    X, y = data
    curves = iteration_curves(hgb().fit(X, y), name="$price model")
    fig = plot_iteration_curves(curves, title="Curves of $price")
    assert len(fig.axes) == 1  # losses only
    assert any(r"\$price" in t.get_text() for t in fig.axes[0].get_legend().get_texts())
    empty = plot_iteration_curves(None)
    assert "no per-iteration curves" in empty.axes[0].texts[0].get_text()


def test_learning_curve_frame(data):
    X, y = data
    pipe = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())])
    frame = learning_curve_frame(pipe, X, y, cv=StratifiedKFold(3), scoring="roc_auc", train_sizes=(0.2, 0.6, 1.0))
    assert list(frame.columns) == [
        "train_size",
        "fraction",
        "fold",
        "train_score",
        "valid_score",
        "fit_seconds",
        "metric",
    ]
    assert len(frame) == 9 and list(frame["fraction"].unique()) == [0.2, 0.6, 1.0]
    assert list(frame["train_size"].unique()) == [40, 120, 200]
    assert frame["valid_score"].between(0.5, 1).all()
    again = learning_curve_frame(pipe, X, y, cv=StratifiedKFold(3), scoring="roc_auc", train_sizes=(0.2, 0.6, 1.0))
    np.testing.assert_array_equal(frame["valid_score"], again["valid_score"])  # seeded
    assert isinstance(plot_learning_curve(frame), Figure)


def test_the_whole_share_is_read_from_the_cvs_own_fits_not_refit(data):
    import pandas as pd

    from nblib.ml.training.trainer import cross_validate_oof

    X, y = pd.DataFrame(data[0]), pd.Series(data[1])
    pipe = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())])
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))
    run = cross_validate_oof(pipe, X, y, folds, scoring="neg_log_loss", task="classification", train_scores=True)
    assert len(run.train_scores) == 5 and len(run.fold_seconds) == 5
    refit = learning_curve_frame(pipe, X, y, cv=folds[:3], scoring="neg_log_loss")
    reused = learning_curve_frame(
        pipe,
        X,
        y,
        cv=folds[:3],
        scoring="neg_log_loss",
        full_fits={"train_score": run.train_scores, "valid_score": run.scores, "fit_seconds": run.fold_seconds},
    )
    columns = ["train_size", "fraction", "fold", "train_score", "valid_score"]
    pd.testing.assert_frame_equal(reused[columns], refit[columns], atol=1e-6)  # the same curve, 3 fits fewer
    assert (reused["valid_score"] > 0).all()  # a loss, reported without the scorer's sign
    plain = cross_validate_oof(pipe, X, y, folds, scoring="roc_auc", task="classification")
    assert plain.train_scores is None


def test_learning_curve_with_groups_and_a_loss(data):
    X, y = data
    groups = np.arange(len(y)) // 3
    frame = learning_curve_frame(
        LogisticRegression(), X, y, cv=GroupKFold(3), groups=groups, scoring="neg_log_loss", train_sizes=(0.5, 1.0)
    )
    assert set(frame["metric"]) == {"log_loss"} and (frame["valid_score"] > 0).all()
    assert plot_learning_curve(frame).axes[0].get_ylabel() == "log_loss"
