import json

import pytest
import skops.io as sio

from nblib.engine import artifacts as io
from nblib.ml.data.preprocess import clean_frame, infer_column_roles, make_preprocessor
from nblib.ml.features import make_feature_transformer, make_text_vectorizer
from nblib.ml.saved import TRUSTED_TYPES
from nblib.ml.training.cv import build_pipeline
from nblib.ml.training.families import FAMILIES


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_atomic_write_replaces_whole_file(tmp_path):
    target = io.write_json(tmp_path / "a" / "m.json", {"x": 1})
    io.write_json(target, {"x": 2})
    assert json.loads(target.read_text()) == {"x": 2}
    assert [p.name for p in target.parent.iterdir()] == ["m.json"]


def test_written_files_are_readable_by_others(tmp_path):
    import os
    import stat

    mode = stat.S_IMODE(io.write_text(tmp_path / "r.html", "x").stat().st_mode)
    assert mode == 0o666 & ~io._UMASK and (mode & 0o044 or os.umask(0o022) & 0o044)


def test_frame_roundtrip_keeps_index(tmp_path, launches):
    frame = launches.frame.head(30).set_axis(range(100, 130))
    back = io.read_frame(io.write_frame(tmp_path / "f.parquet", frame))
    assert back.index.tolist() == list(range(100, 130))


def test_hashes(tmp_path):
    (tmp_path / "a").write_text("1")
    (tmp_path / "b").write_text("2")
    h = io.sha256_paths([tmp_path / "a", tmp_path / "b"])
    assert h == io.sha256_paths([tmp_path / "b", tmp_path / "a"])
    (tmp_path / "b").write_text("3")
    assert h != io.sha256_paths([tmp_path / "a", tmp_path / "b"])


@pytest.fixture(scope="module")
def small(launches):
    frame = clean_frame(launches.frame.head(400), target="is_hit", drop_columns=["reviews_first_week"]).frame
    roles = infer_column_roles(frame.drop(columns=["revenue_k"]), "is_hit")
    return frame, roles


@pytest.mark.parametrize("key", sorted(FAMILIES), ids="-".join)
def test_every_fitted_family_loads_with_the_allow_list(key, small, tmp_path):
    """Each model family, fitted in its full pipeline, round-trips through skops with
    exactly our allow-list: nothing else may be trusted."""
    name, task = key
    frame, roles = small
    target = "is_hit" if task == "classification" else "revenue_k"
    features = make_feature_transformer(
        make_preprocessor(roles, target_type="binary" if task == "classification" else "continuous"),
        roles,
        text=make_text_vectorizer(max_features=50),
    )
    params = (
        {"n_estimators": 5} if "forest" in name or "trees" in name else ({"max_iter": 5} if "boosting" in name else {})
    )
    pipe = build_pipeline(features, name, task, params, svd_components=3).fit(frame[roles.features], frame[target])
    path = io.write_model(tmp_path / "m.skops", pipe)
    assert set(sio.get_untrusted_types(file=path)) <= set(TRUSTED_TYPES)
    loaded = io.read_model(path, TRUSTED_TYPES)
    X = frame[roles.features].head(20)
    expected = pipe.predict_proba(X) if task == "classification" else pipe.predict(X)
    got = loaded.predict_proba(X) if task == "classification" else loaded.predict(X)
    assert (expected == got).all()


def test_untrusted_types_are_refused(small, tmp_path):
    frame, roles = small
    features = make_feature_transformer(make_preprocessor(roles), roles, text=make_text_vectorizer(max_features=20))
    path = io.write_model(tmp_path / "f.skops", features)
    with pytest.raises(ValueError, match="untrusted"):
        io.read_model(path, trusted=[])
