import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from nblib.ml.data.preprocess import clean_frame, infer_column_roles, make_preprocessor
from nblib.ml.features import (
    LSA,
    DateFeatures,
    TextTfidf,
    densify_for,
    describe_features,
    make_feature_transformer,
    make_text_vectorizer,
    term_associations,
    text_branch,
)

# The common sweep over every custom transformer lives in test_estimators.py.


def test_date_parts_values():
    X = pd.DataFrame({"d": pd.to_datetime(["2024-01-06", "2023-12-31", None])})
    out = DateFeatures(parts=("year", "month", "dayofweek", "is_weekend"), cyclical=False).fit_transform(X)
    assert out[0].tolist() == [2024, 1, 5, 1]
    assert out[1].tolist() == [2023, 12, 6, 1]
    assert np.isnan(out[2]).all()


def test_cyclical_month_puts_december_next_to_january():
    X = pd.DataFrame({"d": pd.to_datetime(["2024-01-15", "2024-12-15", "2024-06-15"])})
    out = DateFeatures(parts=("month",)).fit_transform(X)
    dist = lambda a, b: np.linalg.norm(out[a] - out[b])  # noqa: E731
    assert dist(0, 1) < dist(0, 2)


def test_feature_names_and_string_dates():
    X = pd.DataFrame({"when": ["2024-01-01", "05 Feb 2023"]})
    tf = DateFeatures(parts=("year", "month")).fit(X)
    assert tf.get_feature_names_out().tolist() == ["when_year", "when_month_sin", "when_month_cos"]
    assert tf.transform(X)[1, 0] == 2023


def test_bad_parts_named_in_error():
    with pytest.raises(ValueError, match="'parts' parameter of DateFeatures"):
        DateFeatures(parts=("century",)).fit(pd.DataFrame({"d": pd.to_datetime(["2024-01-01"])}))


@pytest.fixture(scope="module")
def table(launches):
    frame = clean_frame(launches.frame, target="is_hit", drop_columns=["revenue_k", "reviews_first_week"]).frame
    roles = infer_column_roles(frame, "is_hit")
    features = make_feature_transformer(
        make_preprocessor(roles, target_type="binary"), roles, text=make_text_vectorizer(max_features=300)
    )
    return frame, roles, features


def test_tfidf_stays_sparse(table):
    frame, roles, features = table
    Xt = features.fit_transform(frame[roles.features], frame["is_hit"])
    assert sp.issparse(Xt)
    summary = describe_features(features, Xt)
    assert summary.loc[text_branch(features, "description"), "sparse"]
    assert summary["features"].sum() == Xt.shape[1]


def test_vocabulary_is_learned_in_fit_only(table):
    frame, roles, features = table
    from sklearn.base import clone

    fitted = clone(features).fit(frame[roles.features].head(200), frame["is_hit"].head(200))
    branch = text_branch(fitted, "description")
    vocab = fitted.named_transformers_[branch].named_steps["tfidf"].vectorizer_.vocabulary_
    refit = clone(features).fit(frame[roles.features], frame["is_hit"])
    assert vocab != refit.named_transformers_[branch].named_steps["tfidf"].vectorizer_.vocabulary_


def test_densify_for_dense_models(table):
    frame, roles, features = table
    dense = densify_for(features, svd_components=5, random_state=0)
    Xt = dense.fit_transform(frame[roles.features], frame["is_hit"])
    assert isinstance(Xt, np.ndarray)
    assert features.get_params()["sparse_threshold"] == 1.0  # original untouched


def test_term_associations_find_planted_words(table):
    frame, roles, features = table
    Xt = features.fit_transform(frame[roles.features], frame["is_hit"])
    terms = term_associations(features, Xt, frame["is_hit"], "description", top=12)
    assert {"wireless", "refurbished"} & set(terms.index)


def test_tfidf_adapts_to_tiny_vocabularies():
    X = pd.DataFrame({"t": ["alpha beta", "gamma delta", None, "epsilon"]})
    tfidf = TextTfidf(min_df=2, ngram_max=1).fit(X)
    assert tfidf.min_df_ == 1 and len(tfidf.terms()) == 5  # min_df 2 left no term
    empty = TextTfidf().fit(pd.DataFrame({"t": [None, "", "  "]}))
    assert empty.vectorizer_ is None and empty.transform(pd.DataFrame({"t": ["x"]})).shape == (1, 1)


def test_tfidf_caps_long_cells():
    X = pd.DataFrame({"t": ["word " * 5000, "short text here"]})
    tfidf = TextTfidf(min_df=1, max_chars=100).fit(X)
    assert tfidf.n_capped_ == 1


def test_lsa_never_asks_for_more_components_than_terms():
    import scipy.sparse as sparse

    X = sparse.random(30, 18, density=0.3, random_state=0, format="csr")
    out = LSA(n_components=48, random_state=0).fit(X)
    assert out.n_components_ == 17 and out.transform(X).shape == (30, 17)


# --------------------------------------------------------------------------- levers for the tree models


def test_hour_part_is_the_time_of_day_and_zero_for_plain_dates():
    X = pd.DataFrame({"d": pd.to_datetime(["2024-01-06 07:30", "2024-01-06 23:59", "2024-01-07 00:00"])})
    out = DateFeatures(parts=("hour",), cyclical=False).fit_transform(X)
    assert out[:, 0].tolist() == [7, 23, 0]
    names = DateFeatures(parts=("hour",)).fit(X).get_feature_names_out().tolist()
    assert names == ["d_hour_sin", "d_hour_cos"]


def test_days_since_1970_is_time_itself_for_naive_aware_and_missing_dates():
    naive = pd.DataFrame({"d": pd.to_datetime(["1970-01-02 12:00", None, "2024-01-01 00:00"])})
    out = DateFeatures(parts=("days_since_1970",), cyclical=True).fit_transform(naive)
    assert out.shape == (3, 1)  # not periodic: no sine/cosine pair
    assert out[0, 0] == 1.5 and np.isnan(out[1, 0]) and out[2, 0] == 19723.0
    aware = pd.DataFrame({"d": pd.to_datetime(["2024-01-01 02:00+02:00"])})
    assert DateFeatures(parts=("days_since_1970",)).fit_transform(aware)[0, 0] == 19723.0  # read in UTC
    names = DateFeatures(parts=("year", "days_since_1970")).fit(naive).get_feature_names_out().tolist()
    assert names == ["d_year", "d_days_since_1970"]


def test_text_stats_count_what_a_reader_would():
    from nblib.ml.features import TextStats

    X = pd.DataFrame({"t": ['WOW!! "great" see https://x.io #tag', "plain words here", None]})
    stats = TextStats().fit(X)
    out = pd.DataFrame(stats.transform(X), columns=stats.get_feature_names_out())
    assert out.loc[0, ["exclamations", "quotes", "links", "at_or_hash"]].tolist() == [2, 2, 1, 1]
    assert out.loc[0, "upper_share"] > out.loc[1, "upper_share"] == 0
    assert out.loc[2].tolist() == [0.0] * 11  # missing text is the empty string


def test_linear_text_score_is_out_of_fold_on_the_training_rows():
    """fit_transform must not hand a row a score from a model that saw that row's target."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from nblib.ml.features import LinearTextScore

    rng = np.random.default_rng(0)
    X = sp.csr_matrix(rng.random((300, 50)) < 0.1, dtype=float)
    y = rng.integers(0, 2, 300)  # pure noise: an in-sample fit would still score its own rows well
    score = LinearTextScore("classification", random_state=0)
    oof = score.fit_transform(X, y)[:, 0]
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    expected = cross_val_predict(score._model(), X, y, cv=folds, method="predict_proba")[:, 1]
    np.testing.assert_allclose(oof, expected)
    in_sample = score.transform(X)[:, 0]
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, in_sample) > 0.7 > 0.6 > roc_auc_score(y, oof)  # memorised vs honest
    assert score.get_feature_names_out().tolist() == ["linear_score0"]


def test_linear_text_score_shapes_for_multiclass_regression_and_a_tiny_class():
    from nblib.ml.features import LinearTextScore

    rng = np.random.default_rng(1)
    X = sp.csr_matrix(rng.random((60, 20)))
    assert LinearTextScore("classification").fit_transform(X, np.arange(60) % 3).shape == (60, 3)
    assert LinearTextScore("regression").fit(X, rng.normal(size=60)).transform(X).shape == (60, 1)
    tiny = np.r_[np.zeros(57), np.ones(3)].astype(int)  # 3 rows of a class: too few to cross-fit
    out = LinearTextScore("classification").fit_transform(X, tiny)
    assert np.unique(out).size == 1  # a constant, not an in-sample score


def test_dense_variant_for_a_task_adds_the_text_score_and_stats(table):
    frame, roles, features = table
    plain = densify_for(features, svd_components=5, random_state=0)
    scored = densify_for(features, svd_components=5, random_state=0, task="classification")
    X, y = frame[roles.features], frame["is_hit"]
    names = scored.fit(X, y).get_feature_names_out().tolist()
    assert len(names) == plain.fit(X, y).get_feature_names_out().size + 1 + 11
    assert any("linear_score0" in n for n in names) and any("links" in n for n in names)


def test_native_categories_come_first_as_codes_and_unseen_ones_are_missing():
    from sklearn.ensemble import HistGradientBoostingClassifier

    from nblib.ml.data.preprocess import ColumnRoles
    from nblib.ml.features import native_categories_for

    rng = np.random.default_rng(2)
    n = 400
    X = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue"], n),
            "town": [f"t{i}" for i in rng.integers(0, 300, n)],  # more codes than the bins: the rest share one
        }
    )
    y = pd.Series(((X.colour == "green") ^ (X.x > 1)).astype(int))
    roles = ColumnRoles(numeric=["x"], categorical=["colour"], high_cardinality=["town"])
    features = make_feature_transformer(make_preprocessor(roles, target_type="binary"), roles)
    native, k = native_categories_for(features)
    assert k == 2
    assert [name for name, _, _ in native.transformers][:2] == ["categorical", "high_cardinality"]
    Xt = native.fit_transform(X, y)
    assert set(np.unique(Xt[:, 0])) == {0.0, 1.0, 2.0}
    unseen = native.transform(X.head(2).assign(colour="purple"))
    assert np.isnan(unseen[:, 0]).all()
    assert Xt.shape[1] == 2 + 1 + 1  # two code columns, town's target encoding, x
    model = HistGradientBoostingClassifier(max_iter=20, categorical_features=list(range(k))).fit(Xt, y)
    assert model.is_categorical_.tolist()[:2] == [True, True]


# --------------------------------------------------------------------------- integer codes


def _coded(n=600, seed=0):
    """A student id (60 codes, 10 rows each) whose own effect sets the target, a real number, a small count."""
    rng = np.random.default_rng(seed)
    student = rng.permutation(np.arange(n) % 60)
    effect = rng.normal(size=60)
    X = pd.DataFrame({"student": student, "income": rng.normal(50, 10, n).round(3), "children": rng.integers(0, 4, n)})
    y = effect[student] + rng.normal(scale=0.3, size=n)
    return X, y, effect


def test_integer_code_columns_are_whole_numbers_with_many_repeated_values():
    from nblib.ml.features import integer_code_columns

    X, _, _ = _coded()
    assert integer_code_columns(X) == ["student"]  # income is not whole, children has 4 values
    assert integer_code_columns(X, min_rows_per_value=20) == []  # a number, not a code
    assert integer_code_columns(X.assign(student=X["student"].where(X.index % 7 > 0))) == ["student"]  # gaps
    assert integer_code_columns(pd.DataFrame({"row": np.arange(600)})) == []  # one row per value


def test_integer_codes_are_kept_where_the_codes_say_more_than_the_value():
    """A student number whose codes carry the target is kept; an amount (a smooth effect of the value)
    and a count are read as numbers only; the evidence says why."""
    from nblib.ml.features import integer_code_columns, integer_code_evidence

    rng = np.random.default_rng(1)
    n = 3000
    student = rng.integers(0, 150, n)
    amount = rng.integers(1, 400, n) * 25
    visits = rng.poisson(40, n)
    y = rng.normal(size=150)[student] + amount / 5000 + rng.normal(scale=0.5, size=n)
    X = pd.DataFrame({"student": student, "amount": amount, "visits": visits})
    assert integer_code_columns(X) == ["student", "amount", "visits"]  # candidates, from the values alone
    assert integer_code_columns(X, y, task="regression") == ["student"]
    evidence = integer_code_evidence(X, y, task="regression")
    assert evidence["student"]["codes"] > evidence["student"]["smooth"] + 0.1
    assert not evidence["amount"]["kept"] and not evidence["visits"]["kept"]
    labels = (y > 0).astype(int)  # the same for a class target
    assert integer_code_columns(X, labels, task="classification") == ["student"]


def test_sequential_ids_are_kept_even_when_one_column_alone_says_little():
    from nblib.ml.features import integer_code_evidence

    rng = np.random.default_rng(2)
    ids = np.repeat(np.arange(1, 801), 6)  # 800 ids filling 1..800, six rows each
    evidence = integer_code_evidence(pd.DataFrame({"id": ids}), rng.normal(size=len(ids)), task="regression")
    assert evidence["id"]["id_like"] and evidence["id"]["kept"]
    # a clock time fills its range too, but its value says something: a number, not an id
    clock = rng.integers(0, 1440, 6000)
    evidence = integer_code_evidence(pd.DataFrame({"minute": clock}), clock / 1440 + rng.normal(size=6000) * 0.3)
    assert not evidence["minute"]["id_like"] and not evidence["minute"]["kept"]


def test_integer_codes_are_cross_fitted_and_say_what_each_code_gives():
    from nblib.ml.features import IntegerCodes

    X, y, effect = _coded()
    codes = IntegerCodes(target_type="continuous", random_state=0)
    inside = codes.fit_transform(X[["student"]], y).ravel()
    outside = codes.transform(X[["student"]]).ravel()
    assert codes.get_feature_names_out().tolist() == ["student_code"]
    assert not np.allclose(inside, outside)  # a training row's own target is left out
    assert np.corrcoef(outside, effect[X["student"]])[0, 1] > 0.9
    new = pd.DataFrame({"student": [999]})
    assert codes.transform(new)[0, 0] == pytest.approx(np.mean(y), abs=1e-9)  # an unseen code: the mean


def test_feature_transformer_adds_the_code_branch_and_says_so():
    from nblib.ml.features import code_notes, fit_describe, integer_code_columns

    X, y, _ = _coded()
    roles = infer_column_roles(X.assign(y=y), "y")
    codes = integer_code_columns(X[roles.numeric])
    features = make_feature_transformer(
        make_preprocessor(roles, target_type="continuous"), roles, code_columns=codes, task="regression"
    )
    fitted, Xt = fit_describe(features, X, y)
    assert "integer_codes__student_code" in fitted.get_feature_names_out()
    assert "integer codes 'student'" in code_notes(codes)[0] and code_notes([]) == []
    assert "name the column in data.group" in code_notes(codes)[0]  # new students are another question
    assert "read as numbers only: 'visits'" in code_notes(["student"], ["student", "visits"])[-1]
    plain = make_feature_transformer(make_preprocessor(roles, target_type="continuous"), roles)
    assert "integer_codes" not in [name for name, _, _ in plain.transformers]
