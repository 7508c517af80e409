import pandas as pd
import pytest

from nblib.ml.data.target import TargetError, encode_target, infer_positive_class, prepare_target


@pytest.mark.parametrize(
    "labels, positive",
    [
        (["Yes", "No"], "Yes"),
        (["no", "yes"], "yes"),
        (["y", "n"], "y"),
        ([True, False], True),
        ([0, 1], 1),
        (["FALSE", "TRUE"], "TRUE"),
        (["good", "bad"], None),
        (["a", "b", "c"], None),
    ],
)
def test_positive_class_inferred_only_when_obvious(labels, positive):
    assert infer_positive_class(labels) == positive


def test_spellings_of_one_label_are_one_class():
    enc = encode_target(pd.Series(["Yes", "yes ", "YES", "No", "no", "Yes"]))
    assert enc.classes == ["No", "Yes"] and enc.positive_class == "Yes"
    assert enc.codes.tolist() == [1, 1, 1, 0, 0, 1] and "Yes" in enc.merged


def test_ambiguous_pair_needs_positive_class_and_lists_the_labels():
    y = pd.Series(["good", "bad"] * 10)
    with pytest.raises(
        TargetError, match="set data.positive_class to 'good' or 'bad'|set data.positive_class to 'bad' or 'good'"
    ):
        encode_target(y)
    enc = encode_target(y, "bad")
    assert enc.classes == ["good", "bad"] and enc.codes.tolist()[:2] == [0, 1]
    with pytest.raises(TargetError, match="not a class"):
        encode_target(y, "ugly")


def test_multiclass_codes_and_decode():
    enc = encode_target(pd.Series(["b", "c", "a", "b"]))
    assert enc.classes == ["a", "b", "c"] and enc.positive_class is None
    assert list(enc.decode(enc.codes)) == ["b", "c", "a", "b"]
    with pytest.raises(TargetError, match="for two classes"):
        encode_target(pd.Series(["b", "c", "a"]), "a")


def test_regression_target_written_as_text_is_read():
    y, info = prepare_target(pd.Series(["$1,200", "300", "4.5"]), "regression")
    assert y.tolist() == [1200.0, 300.0, 4.5] and info == {"read_as_numbers": True}
