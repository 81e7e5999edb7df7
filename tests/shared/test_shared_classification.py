"""Classification and calibration metrics against scikit-learn and hand-computed examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    classification_report,
    log_loss,
    mean_squared_error,
    precision_recall_fscore_support,
    top_k_accuracy_score,
)

from mlshared import classification_metrics as cm

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _random_problem(seed: int, n: int = 300, n_classes: int = 5, ties: bool = False):
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.full(n_classes, 0.7), size=n)
    if ties:  # coarse grid, renormalised: equal entries stay equal, so ties are frequent
        proba = np.round(proba * 4) + 1
        proba /= proba.sum(axis=1, keepdims=True)
    y = np.array([rng.choice(n_classes, p=p) for p in proba])
    return y, proba


# --------------------------------------------------------------------------------------------
# Against scikit-learn
# --------------------------------------------------------------------------------------------


def test_accuracy_matches_sklearn() -> None:
    y, proba = _random_problem(0)
    pred = proba.argmax(axis=1)
    assert cm.accuracy(y, pred) == pytest.approx(accuracy_score(y, pred), abs=1e-12)
    assert cm.accuracy([0, 1, 2, 2], [0, 2, 2, 1]) == 0.5


@pytest.mark.filterwarnings("ignore:'k' .* greater than or equal to 'n_classes'")
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_top_k_accuracy_matches_sklearn(k: int, ties: bool) -> None:
    y, proba = _random_problem(1, ties=ties)
    if ties:
        assert np.any(np.sort(proba, axis=1)[:, 1:] == np.sort(proba, axis=1)[:, :-1])
    expected = top_k_accuracy_score(y, proba, k=k, labels=np.arange(5))
    assert cm.top_k_accuracy(y, proba, k) == pytest.approx(expected, abs=1e-12)


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(1, 40), st.integers(2, 7), st.booleans())
def test_top_k_is_monotone_in_k_and_one_at_k_equals_c(seed, n, n_classes, ties) -> None:
    y, proba = _random_problem(seed, n=n, n_classes=n_classes, ties=ties)
    scores = [cm.top_k_accuracy(y, proba, k) for k in range(1, n_classes + 1)]
    assert np.all(np.diff(scores) >= 0)
    assert scores[-1] == 1.0
    if not ties:  # without ties top-1 is plain argmax accuracy
        assert scores[0] == cm.accuracy(y, proba.argmax(axis=1))


def test_top_k_ties_by_hand() -> None:
    """A tie at the k-th place goes to the higher class index (sklearn's convention)."""
    proba = np.array([[0.4, 0.4, 0.2], [0.2, 0.4, 0.4], [0.5, 0.25, 0.25]])
    assert cm.top_k_accuracy([0], proba[:1], k=1) == 0.0
    assert cm.top_k_accuracy([1], proba[:1], k=1) == 1.0
    assert cm.top_k_accuracy([2], proba[1:2], k=1) == 1.0
    # top-2 of row 3: class 0, then the tie between 1 and 2 goes to 2
    assert cm.top_k_accuracy([1, 2], proba[[2, 2]], k=2) == 0.5
    assert cm.top_k_accuracy([0, 1, 2], proba, k=3) == 1.0
    for y in ([0], [1]):
        assert cm.top_k_accuracy(y, proba[:1], k=1) == top_k_accuracy_score(
            y, proba[:1], k=1, labels=[0, 1, 2]
        )


def test_binary_vector_ties_follow_sklearns_two_column_form() -> None:
    """A 1-D positive-class vector becomes two columns, so p = 0.5 is a tie won by class 1.

    This is sklearn's multi-class tie rule (checked with a third, empty class, since sklearn
    refuses (n, 2) scores for binary labels); sklearn's 1-D path thresholds ``p > 0.5`` instead.
    """
    p = np.array([0.5, 0.5, 0.9, 0.2])
    y = np.array([1, 1, 1, 0])
    assert cm.top_k_accuracy(y, p, k=1) == 1.0
    three_col = np.column_stack([1 - p, p, np.zeros_like(p)])
    assert cm.top_k_accuracy(y, three_col, k=1) == top_k_accuracy_score(
        y, three_col, k=1, labels=[0, 1, 2]
    )
    assert top_k_accuracy_score(y, p, k=1) == 0.5  # the 1-D convention differs


def test_per_class_report_matches_sklearn() -> None:
    y, proba = _random_problem(2)
    pred = proba.argmax(axis=1)
    pred[pred == 4] = 3  # class 4 is never predicted: precision 0 by convention
    names = ["a", "b", "c", "d", "e"]
    report = cm.per_class_report(y, pred, names)
    assert list(report.index) == [*names, "macro avg", "weighted avg"]
    assert list(report.columns) == ["precision", "recall", "f1", "support"]
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=range(5), zero_division=0)
    np.testing.assert_allclose(report.loc[names, "precision"], p)
    np.testing.assert_allclose(report.loc[names, "recall"], r)
    np.testing.assert_allclose(report.loc[names, "f1"], f)
    np.testing.assert_array_equal(report.loc[names, "support"], s)
    assert report.loc["e", "precision"] == 0.0
    assert report["support"].dtype.kind == "i"
    reference = classification_report(
        y, pred, labels=range(5), target_names=names, output_dict=True, zero_division=0
    )
    for row in ("macro avg", "weighted avg"):
        for ours, theirs in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")):
            assert report.loc[row, ours] == pytest.approx(reference[row][theirs], abs=1e-12)
        assert report.loc[row, "support"] == len(y)


def test_per_class_report_without_names_infers_classes() -> None:
    report = cm.per_class_report([0, 1, 2, 2], [0, 2, 2, 2])
    assert list(report.index[:3]) == ["0", "1", "2"]
    assert report.loc["2", "precision"] == pytest.approx(2 / 3)
    assert report.loc["1", "recall"] == 0.0


def test_nll_matches_sklearn_log_loss() -> None:
    y, proba = _random_problem(3)
    assert cm.negative_log_likelihood(y, proba) == pytest.approx(
        log_loss(y, proba, labels=np.arange(5)), rel=1e-9
    )
    # binary (n,) input
    rng = np.random.default_rng(3)
    p = rng.uniform(0.01, 0.99, 200)
    yb = (rng.uniform(size=200) < p).astype(int)
    assert cm.negative_log_likelihood(yb, p) == pytest.approx(log_loss(yb, p), rel=1e-9)
    # a zero probability on the true class is clipped, not infinite
    assert cm.negative_log_likelihood([0], [[0.0, 1.0]]) == pytest.approx(-np.log(1e-12))


def test_brier_binary_is_twice_sklearn() -> None:
    """Documented: our multi-class Brier sums over both classes, sklearn's binary one does not."""
    rng = np.random.default_rng(4)
    p = rng.uniform(size=300)
    y = (rng.uniform(size=300) < p).astype(int)
    assert cm.brier_score(y, p) == pytest.approx(2 * brier_score_loss(y, p), rel=1e-12)
    two_col = np.column_stack([1 - p, p])
    assert cm.brier_score(y, two_col) == pytest.approx(2 * brier_score_loss(y, p), rel=1e-12)


def test_brier_multiclass_matches_hand_formula_and_sklearn() -> None:
    y, proba = _random_problem(5)
    onehot = np.eye(5)[y]
    expected = np.mean(np.sum((proba - onehot) ** 2, axis=1))
    assert cm.brier_score(y, proba) == pytest.approx(expected, rel=1e-12)
    # sklearn's multi-class brier_score_loss needs 1.7 (Colab has 1.6): the mean squared error
    # over samples and classes, times the number of classes, is the same quantity in any version
    assert cm.brier_score(y, proba) == pytest.approx(
        5 * mean_squared_error(onehot, proba), rel=1e-12
    )
    # by hand: ([0.7, 0.2, 0.1], y=0) -> 0.09 + 0.04 + 0.01 = 0.14
    assert cm.brier_score([0], [[0.7, 0.2, 0.1]]) == pytest.approx(0.14)


# --------------------------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------------------------


def test_ece_hand_computed_example() -> None:
    """Five bins of width 0.2, three filled:

    (0.8, 1.0]: 4 examples at confidence 0.9, 3 right -> |0.75 - 0.9| = 0.15
    (0.6, 0.8]: 2 examples at 0.7, 1 right          -> |0.5 - 0.7|  = 0.20
    (0.4, 0.6]: 4 examples at 0.55, 4 right         -> |1.0 - 0.55| = 0.45
    ECE = (4 * 0.15 + 2 * 0.20 + 4 * 0.45) / 10 = 0.28
    """
    p_pos = np.array([0.9] * 4 + [0.3] * 2 + [0.55] * 4)
    y = np.array([1, 1, 1, 0, 0, 1, 1, 1, 1, 1])
    assert cm.expected_calibration_error(y, p_pos, n_bins=5) == pytest.approx(0.28)
    bins = cm.reliability_bins(y, p_pos, n_bins=5)
    assert bins["count"].tolist() == [0, 0, 4, 2, 4]
    np.testing.assert_allclose(bins["lower"], [0, 0.2, 0.4, 0.6, 0.8])
    np.testing.assert_allclose(bins["upper"], [0.2, 0.4, 0.6, 0.8, 1.0])
    np.testing.assert_allclose(bins["confidence"][2:], [0.55, 0.7, 0.9])
    np.testing.assert_allclose(bins["accuracy"][2:], [1.0, 0.5, 0.75])
    assert bins["confidence"][:2].isna().all()


def test_reliability_bins_are_right_closed() -> None:
    # with 4 bins the edges 0.25, 0.5, 0.75 are exact: 0.75 belongs to (0.5, 0.75]
    proba = np.array([[0.75, 0.25], [0.5, 0.5], [0.0, 1.0]])
    bins = cm.reliability_bins([0, 0, 1], proba, n_bins=4)
    assert bins["count"].tolist() == [0, 1, 1, 1]
    with pytest.raises(ValueError, match="n_bins"):
        cm.reliability_bins([0], proba[:1], n_bins=0)


@st.composite
def calibrated_problems(draw):
    """Groups of examples whose accuracy equals their top-label confidence exactly."""
    n_classes = draw(st.integers(2, 6))
    y, rows = [], []
    for _ in range(draw(st.integers(1, 5))):
        tenths = draw(st.integers(6, 10))  # confidence 0.6..1.0 is always the argmax
        size = 10 * draw(st.integers(1, 3))
        predicted = draw(st.integers(0, n_classes - 1))
        row = np.full(n_classes, (1 - tenths / 10) / (n_classes - 1))
        row[predicted] = tenths / 10
        n_right = tenths * size // 10
        wrong = (predicted + 1) % n_classes
        y += [predicted] * n_right + [wrong] * (size - n_right)
        rows += [row] * size
    return np.array(y), np.array(rows), draw(st.integers(1, 20))


@SETTINGS
@given(calibrated_problems())
def test_ece_is_zero_for_a_perfectly_calibrated_construction(problem) -> None:
    y, proba, n_bins = problem
    assert cm.expected_calibration_error(y, proba, n_bins) == pytest.approx(0.0, abs=1e-9)


@SETTINGS
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 60),
    st.integers(2, 6),
    st.integers(1, 20),
    st.floats(0.05, 5.0),
)
def test_ece_in_unit_interval_and_bins_consistent(seed, n, n_classes, n_bins, alpha) -> None:
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.full(n_classes, alpha), size=n)
    y = rng.integers(0, n_classes, size=n)
    ece = cm.expected_calibration_error(y, proba, n_bins)
    assert 0.0 <= ece <= 1.0
    bins = cm.reliability_bins(y, proba, n_bins)
    assert len(bins) == n_bins and bins["count"].sum() == n
    filled = bins[bins["count"] > 0]
    assert np.all((filled["confidence"] > filled["lower"]) | (filled["lower"] == 0))
    assert np.all(filled["confidence"] <= filled["upper"] + 1e-12)
    # ECE is the count-weighted gap; the overall accuracy matches the bins' weighted accuracy
    weighted_acc = np.sum(filled["accuracy"] * filled["count"]) / n
    assert weighted_acc == pytest.approx(np.mean(proba.argmax(axis=1) == y))


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(2, 6), st.floats(0.05, 0.9))
def test_rows_not_summing_to_one_are_rejected(seed, n_classes, scale) -> None:
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.ones(n_classes), size=5)
    y = rng.integers(0, n_classes, size=5)
    with pytest.raises(ValueError, match="sum to 1"):
        cm.brier_score(y, proba * scale)
    logits = rng.normal(0, 3, size=(5, n_classes))
    logits[0, 0] = 4.0  # at least one value outside [0, 1]
    with pytest.raises(ValueError, match="logits"):
        cm.negative_log_likelihood(y, logits)


# --------------------------------------------------------------------------------------------
# Summary and validation
# --------------------------------------------------------------------------------------------


def test_classification_summary_is_consistent() -> None:
    y, proba = _random_problem(6)
    summary = cm.classification_summary(y, proba, n_bins=10, k=3)
    pred = proba.argmax(axis=1)
    assert summary["n"] == len(y)
    assert summary["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert summary["macro_f1"] == pytest.approx(
        precision_recall_fscore_support(y, pred, labels=range(5), average="macro")[2]
    )
    assert summary["nll"] == pytest.approx(log_loss(y, proba, labels=np.arange(5)))
    assert summary["brier"] == pytest.approx(cm.brier_score(y, proba))
    assert summary["ece"] == pytest.approx(cm.expected_calibration_error(y, proba, 10))
    assert summary["top3_accuracy"] == pytest.approx(
        top_k_accuracy_score(y, proba, k=3, labels=np.arange(5))
    )
    # a binary problem has no top-2 accuracy (it would always be 1)
    assert "top2_accuracy" not in cm.classification_summary([0, 1], [0.3, 0.6])


@pytest.mark.parametrize(
    ("y", "proba", "match"),
    [
        ([], np.zeros((0, 2)), "empty"),
        ([[0, 1]], [[0.5, 0.5]], "1-D"),
        ([0.5, 1.0], [[0.5, 0.5], [0.5, 0.5]], "integer"),
        ([0, 1, 1], [[0.5, 0.5], [0.5, 0.5]], "3 labels but proba has 2 rows"),
        ([0, 2], [[0.5, 0.5], [0.5, 0.5]], r"labels must be in \[0, 1\]"),
        ([0, -1], [[0.5, 0.5], [0.5, 0.5]], r"labels must be in \[0, 1\]"),
        ([0], [[1.0]], "C>=2"),
        ([0], [[[0.5, 0.5]]], "C>=2"),
        ([0], [[np.nan, 1.0]], "NaN"),
        ([0, 1], [[0.6, 0.6], [0.5, 0.5]], "sum to 1"),
        ([0, 1], [1.5, 0.2], "logits"),
    ],
)
def test_invalid_inputs_raise_clear_errors(y, proba, match) -> None:
    for fn in (
        cm.negative_log_likelihood,
        cm.brier_score,
        cm.expected_calibration_error,
        cm.top_k_accuracy,
        cm.classification_summary,
    ):
        with pytest.raises(ValueError, match=match):
            fn(y, proba)


def test_other_validation_errors() -> None:
    with pytest.raises(ValueError, match=r"k must be in \[1, 3\]"):
        cm.top_k_accuracy([0], [[0.2, 0.3, 0.5]], k=4)
    with pytest.raises(ValueError, match="does not match"):
        cm.accuracy([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="empty"):
        cm.accuracy([], [])
    # float labels that are whole numbers are accepted
    assert cm.accuracy(np.array([0.0, 1.0]), np.array([0, 1])) == 1.0
    assert isinstance(cm.per_class_report([0, 1], [0, 1]), pd.DataFrame)


def test_as_probability_matrix_binary_vector() -> None:
    np.testing.assert_allclose(cm.as_probability_matrix([0.2, 1.0]), [[0.8, 0.2], [0.0, 1.0]])
