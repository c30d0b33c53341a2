import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from respmon.classify.metrics import classification_report, confusion_matrix, format_report
from respmon.patterns import PATTERNS


def test_confusion_matrix_hand_example():
    cm = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], n_classes=3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_confusion_matrix_rejects_bad_input():
    with pytest.raises(ValueError):
        confusion_matrix([0, 1], [0], n_classes=3)
    with pytest.raises(ValueError):
        confusion_matrix([0, 3], [0, 1], n_classes=3)


def test_report_hand_example():
    names = ("a", "b", "c")
    r = classification_report([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], names=names)
    assert r["accuracy"] == pytest.approx(4 / 6)
    a, b, c = (r["per_class"][n] for n in names)
    # a: TP 1, FP 1 (a c predicted a), FN 1, TN 3
    assert a["precision"] == pytest.approx(0.5) and a["recall"] == pytest.approx(0.5)
    assert a["specificity"] == pytest.approx(3 / 4) and a["f1"] == pytest.approx(0.5)
    # b: TP 1, FP 1, FN 0, TN 4
    assert b["precision"] == pytest.approx(0.5) and b["recall"] == pytest.approx(1.0)
    assert b["specificity"] == pytest.approx(4 / 5) and b["f1"] == pytest.approx(2 / 3)
    # c: TP 2, FP 0, FN 1, TN 3
    assert c["precision"] == pytest.approx(1.0) and c["recall"] == pytest.approx(2 / 3)
    assert c["specificity"] == pytest.approx(1.0) and c["support"] == 3
    assert r["macro_recall"] == pytest.approx((0.5 + 1.0 + 2 / 3) / 3)
    assert r["macro_specificity"] == pytest.approx((0.75 + 0.8 + 1.0) / 3)
    assert r["confusion"] == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_absent_and_never_predicted_classes():
    # class 2 absent everywhere: None and out of the macro; class 1 never predicted: precision 0.
    r = classification_report([0, 0, 1], [0, 0, 0], names=("a", "b", "c"))
    assert r["per_class"]["c"] == {"precision": None, "recall": None, "specificity": None,
                                   "f1": None, "support": 0}
    assert r["per_class"]["b"]["precision"] == 0.0 and r["per_class"]["b"]["f1"] == 0.0
    assert r["macro_recall"] == pytest.approx((1.0 + 0.0) / 2)
    # predicted but never true: recall undefined, precision 0
    r = classification_report([0, 0], [0, 1], names=("a", "b"))
    assert r["per_class"]["b"]["recall"] is None and r["per_class"]["b"]["precision"] == 0.0


def test_format_report_names_everything():
    r = classification_report([0, 1, 6], [0, 1, 5])
    text = format_report(r)
    for name in PATTERNS:
        assert name in text
    assert "Accuracy: 0.667" in text and "| true \\ predicted |" in text


labels = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=60)


@settings(max_examples=60, deadline=None)
@given(labels)
def test_properties(pairs):
    y, p = (np.array(v) for v in zip(*pairs))
    cm = confusion_matrix(y, p)
    r = classification_report(y, p)
    assert cm.sum() == len(y)
    assert r["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    present = [PATTERNS[k] for k in range(7) if cm[k].sum() or cm[:, k].sum()]
    for k, name in enumerate(PATTERNS):
        m = r["per_class"][name]
        if name not in present:
            assert m["recall"] is None
            continue
        tp, fp = cm[k, k], cm[:, k].sum() - cm[k, k]
        tn = cm.sum() - cm[k].sum() - cm[:, k].sum() + tp
        if tn + fp:
            assert m["specificity"] == pytest.approx(tn / (tn + fp))
        for key in ("precision", "recall", "specificity", "f1"):
            assert m[key] is None or 0.0 <= m[key] <= 1.0
    recalls = [r["per_class"][n]["recall"] for n in present if r["per_class"][n]["recall"] is not None]
    assert r["macro_recall"] == pytest.approx(np.mean(recalls))
    specs = [r["per_class"][n]["specificity"] for n in present if r["per_class"][n]["specificity"] is not None]
    if specs:
        assert r["macro_specificity"] == pytest.approx(np.mean(specs))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=60))
def test_perfect_predictions(y):
    r = classification_report(y, y)
    assert r["accuracy"] == 1.0
    for name in PATTERNS:
        m = r["per_class"][name]
        if m["support"]:
            assert m["precision"] == m["recall"] == m["f1"] == 1.0
            if len(set(y)) > 1:
                assert m["specificity"] == 1.0
    assert r["macro_f1"] == 1.0 and r["macro_precision"] == 1.0
