"""The leak detector on tables with planted post-outcome columns, and on honest strong features."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from nblib.ml.data.leaks import LeakReport, enforce, find_leaks, fix_hint, kept_likely
from nblib.ml.evaluation.metrics import GateFailed


def _roles(frame, target):
    return {"numeric": [c for c in frame.columns if c != target]}


@pytest.fixture(scope="module")
def cancer():
    frame = load_breast_cancer(as_frame=True).frame
    return frame, frame["target"]


def test_strong_honest_features_are_not_suspects(cancer):
    frame, y = cancer
    report = find_leaks(frame, y, _roles(frame, "target"), task="classification", policy="drop", random_state=0)
    assert [x for x in report.suspects if x["confidence"] == "likely"] == [] and report.dropped == []
    assert report.columns["score_alone"].max() > 0.95  # they are strong alone, yet have stand-ins


def test_post_outcome_column_the_model_leans_on_is_a_suspect():
    rng = np.random.default_rng(0)
    n = 3000
    x = rng.normal(size=(n, 4))
    y = pd.Series((x[:, 0] + 0.5 * x[:, 1] + rng.normal(0, 1.5, n) > 1).astype(int))
    frame = pd.DataFrame(x, columns=list("abcd"))
    frame["repaid_total"] = y * rng.gamma(2, 0.5, n) + rng.normal(0, 0.5, n)  # known only after the outcome
    report = find_leaks(frame, y, _roles(frame, None), task="classification", policy="warn", random_state=0)
    assert [s["columns"] for s in report.suspects if s["confidence"] == "likely"] == [["repaid_total"]]
    suspect = report.suspects[0]
    assert suspect["action"] == "kept" and suspect["score_alone"] < 0.95 and suspect["confidence"] == "likely"
    assert "refit without" in suspect["evidence"]


def test_regression_leak_and_declared_columns():
    rng = np.random.default_rng(1)
    n = 2000
    frame = pd.DataFrame({"distance": rng.gamma(2, 300, n), "hour": rng.integers(0, 24, n)})
    departure = rng.gamma(1, 15, n)
    y = pd.Series(departure + 0.01 * frame["distance"] + rng.normal(0, 5, n))
    frame["departure_delay"] = departure
    report = find_leaks(
        frame, y, _roles(frame, None), task="regression", policy="drop", declared=["gate"], random_state=0
    )
    cols = [s["columns"] for s in report.suspects]
    assert ["gate"] in cols and ["departure_delay"] in cols
    assert set(report.dropped) == {"gate", "departure_delay"}


def test_fail_policy_stops_the_run():
    rng = np.random.default_rng(2)
    y = pd.Series(rng.integers(0, 2, 600))
    frame = pd.DataFrame({"noise": rng.normal(size=600), "copy": y + rng.normal(0, 0.01, 600)})
    report = find_leaks(frame, y, _roles(frame, None), task="classification", policy="fail", random_state=0)
    assert report.suspects[0]["reason"] == "near-copy"
    with pytest.raises(GateFailed, match="quality.leaks: fail"):
        enforce(report)


def test_columns_named_alike_are_one_unit_and_a_strong_leak_does_not_hide_the_next():
    rng = np.random.default_rng(3)
    n = 2000
    y = pd.Series(rng.normal(size=n))
    frame = pd.DataFrame({"honest": y + rng.normal(0, 2, n)})
    for i in range(1, 6):  # a histogram of outcomes, split over five columns
        frame[f"r{i}"] = y + rng.normal(0, 1.5, n)
    frame["copy"] = y + rng.normal(0, 0.01, n)
    report = find_leaks(frame, y, _roles(frame, None), task="regression", random_state=0)
    cols = [s["columns"] for s in report.suspects]
    assert ["copy"] in cols and ["r1", "r2", "r3", "r4", "r5"] in cols
    second = next(s for s in report.suspects if s["columns"][0] == "r1")
    assert "set aside" in second["evidence"]


def test_refits_side_by_side_give_the_same_report():
    """compute.n_jobs (or a Dask cluster) runs the refits without each suspect at once: same report."""
    rng = np.random.default_rng(4)
    n = 1500
    y = pd.Series(rng.normal(size=n))
    frame = pd.DataFrame({"honest": y + rng.normal(0, 2, n), "copy": y + rng.normal(0, 0.01, n)})
    for i in range(1, 4):
        frame[f"other{i}"] = y + rng.normal(0, 1 + i, n)
    one, two = (
        find_leaks(frame, y, _roles(frame, None), task="regression", random_state=0, n_jobs=jobs).to_dict()
        for jobs in (1, 2)
    )
    assert one == two and one["suspects"]


def _sum_of_parts(seed=5, n=3000):
    """``total`` = ``u`` + ``v``: a model leans on it, yet does as well without it (it has stand-ins)."""
    rng = np.random.default_rng(seed)
    u, v = rng.normal(size=n), rng.normal(size=n)
    y = pd.Series((u + v + rng.normal(0, 0.5, n) > 0.5).astype(int))
    return pd.DataFrame({"total": u + v, "u": u, "v": v, "c": rng.normal(size=n)}), y


def test_a_column_the_model_can_do_without_is_not_a_suspect():
    """Shuffling 'total' costs ~94 % of the skill, a refit without it ~0 %: no suspect, so no
    evidence that contradicts itself ("costs 94 % ... 0 % of its skill, error ×1.0")."""
    frame, y = _sum_of_parts()
    report = find_leaks(frame, y, _roles(frame, None), task="classification", random_state=0)
    assert report.columns.loc["total", "lean"] > 0.5 and abs(report.columns.loc["total", "skill_share"]) < 0.05
    assert report.suspects == []


def _partly_replaceable(noise, n=2000):
    rng = np.random.default_rng(0)
    a = rng.normal(size=n)
    frame = pd.DataFrame({"a": a, "b": a + rng.normal(0, noise, n), "c": rng.normal(size=n)})
    return frame, pd.Series(a + rng.normal(0, 0.5, n))


def test_possible_suspects_have_consistent_evidence_and_are_never_acted_on():
    """A refit without 'a' loses ~20 % of the skill: a possible leak, kept by drop, not stopping fail."""
    frame, y = _partly_replaceable(0.5)
    for policy in ("drop", "fail"):
        report = find_leaks(frame, y, _roles(frame, None), task="regression", policy=policy, random_state=0)
        [suspect] = report.suspects
        assert suspect["confidence"] == "possible" and suspect["action"] == "kept" and report.dropped == []
        assert suspect["lean"] >= 0.25 and suspect["skill_share"] >= 0.1  # both measures point the same way
        enforce(report)  # possible ones never stop the run
        assert kept_likely(report.to_dict()) == []


def test_fail_stops_only_on_likely_suspects():
    possible = {"columns": ["age"], "confidence": "possible", "action": "kept", "reason": "leaned-on"}
    enforce(LeakReport(policy="fail", suspects=[possible]))
    likely = {"columns": ["repaid"], "confidence": "likely", "action": "stopped", "reason": "skill"}
    with pytest.raises(GateFailed, match="'repaid'.*known_before_outcome"):
        enforce(LeakReport(policy="fail", suspects=[possible, likely]))


def test_known_before_outcome_columns_are_not_checked():
    rng = np.random.default_rng(0)
    n = 3000
    x = rng.normal(size=(n, 4))
    y = pd.Series((x[:, 0] + 0.5 * x[:, 1] + rng.normal(0, 1.5, n) > 1).astype(int))
    frame = pd.DataFrame(x, columns=list("abcd"))
    frame["repaid_total"] = y * rng.gamma(2, 0.5, n) + rng.normal(0, 0.5, n)
    report = find_leaks(
        frame,
        y,
        _roles(frame, None),
        task="classification",
        policy="drop",
        known_before=["repaid_total"],
        random_state=0,
    )
    assert report.suspects == [] and report.dropped == []
    assert report.to_dict()["known_before_outcome"] == ["repaid_total"]
    assert report.notes == [
        "not checked: 'repaid_total': declared known before the outcome (data.columns.known_before_outcome)"
    ]
    assert "repaid_total" in report.columns.index  # measured all the same, for the record


def test_kept_likely_decides_the_leak_mark():
    frame, y = _partly_replaceable(0.8)  # 'a' likely; 'b', once 'a' is set aside, only possible
    warn = find_leaks(frame, y, _roles(frame, None), task="regression", policy="warn", random_state=0).to_dict()
    assert kept_likely(warn) == ["a"] == warn["kept_likely"]
    assert "'a'" in fix_hint(kept_likely(warn)) and "quality.leaks: drop" in fix_hint(["a"])
    drop = find_leaks(frame, y, _roles(frame, None), task="regression", policy="drop", random_state=0).to_dict()
    assert kept_likely(drop) == [] and [s["action"] for s in drop["suspects"]] == ["dropped", "kept"]
    assert kept_likely(None) == [] and kept_likely({}) == []
    declared = {"suspects": [{"columns": ["gate"], "confidence": "declared", "action": "dropped"}]}
    assert kept_likely(declared) == []


def test_groups_keep_an_entity_in_one_fold_so_memorising_it_is_not_a_leak():
    # an outcome per patient; 'baseline' is a per-patient measurement with no bearing on it. Folds that
    # split a patient let a model recognise the patient by it (a 'likely leak', CV ROC-AUC 0.91);
    # grouped folds keep each patient in one fold, so the check's model has next to no skill.
    rng = np.random.default_rng(0)
    patients = np.repeat(np.arange(150), 6)
    outcome = rng.integers(0, 2, 150)[patients]
    frame = pd.DataFrame({"baseline": rng.normal(size=150)[patients], "noise": rng.normal(size=len(patients))})
    roles = {"numeric": ["baseline", "noise"]}
    y = pd.Series(outcome)
    ungrouped = find_leaks(frame, y, roles, task="classification", random_state=0)
    assert "baseline" in {c for s in ungrouped.suspects for c in s["columns"]}
    assert ungrouped.model_score > 0.85
    grouped = find_leaks(frame, y, roles, task="classification", random_state=0, groups=pd.Series(patients))
    assert grouped.model_score < 0.65
