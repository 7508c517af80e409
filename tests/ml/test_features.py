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
