"""When the perceptrons' two backends agree, exactly as the README states.

A perceptron's step depends on a comparison (s >= 0; the argmax of the
scores), so a last-bit rounding difference at a tie changes the path. The
promise has two halves, each tested here on both perceptrons and dtypes:

* exact arithmetic (dyadic data of bounded size, per-sample steps, constant
  learning rate, α = 0): the backends take the same steps, ties at 0 and
  between classes included, and the running weights are equal bit for bit;
* otherwise, as long as no score comes within rounding of a decision
  boundary, they take the same steps and agree to rounding.

The steps are replayed one sample at a time with the NumPy reference, which
records every score, so each test first checks that its data meets the
premise (there are ties; there is no near-tie) rather than hoping it does.
"""
import numpy as np
import pytest

from estimator_cases import BACKENDS
from fastlin import MulticlassPerceptron, Perceptron
from fastlin.reference import linear as ref_linear

DTYPES = [np.float64, np.float32]
MODELS = {"Perceptron": (Perceptron, "perceptron", 2),
          "MulticlassPerceptron": (MulticlassPerceptron, "multiclass_perceptron", 3)}


def _replay(X, y, loss, eta, epochs, fit_intercept, sample_weight=None):
    """The per-sample fit (no shuffling), one reference step at a time;
    returns the final W, b and, for every step, its scores and the sum of
    the absolute values of their terms (the scale of their rounding)."""
    c = 1 if loss == "perceptron" else int(y.max()) + 1
    W = np.zeros((X.shape[1], c), dtype=X.dtype)
    b = np.zeros(c, dtype=X.dtype)
    scores, scales, t = [], [], 0
    for _ in range(epochs):
        for i in range(X.shape[0]):
            x = X[i].astype(np.float64)
            scores.append(x @ W.astype(np.float64) + b)
            scales.append(np.abs(x) @ np.abs(W.astype(np.float64)) + np.abs(b))
            _, t = ref_linear.sgd_epoch(X, y, W, b, np.array([i]), loss, eta0=eta, batch_size=1,
                                        fit_intercept=fit_intercept, t=t,
                                        sample_weight=sample_weight)
    return W, b, np.array(scores), np.array(scales)


def _margins(scores, loss):
    """Each step's distance from its decision boundary: |s| (binary), the
    gap between the two top scores (multi-class)."""
    if loss == "perceptron":
        return np.abs(scores[:, 0])
    top2 = np.sort(scores, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def _fit(factory, backend, X, y, eta, epochs, fit_intercept, average, sample_weight=None,
         shuffle=False):
    return factory(standardize=False, learning_rate=eta, max_iter=epochs, tol=None, shuffle=shuffle, batch_size=1,
                   alpha=0.0, fit_intercept=fit_intercept, average=average, random_state=0,
                   backend=backend).fit(X, y, sample_weight=sample_weight)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(MODELS))
def test_dyadic_data_same_steps_exactly_ties_included(name, dtype, fit_intercept, weighted):
    """X on a grid of 1/2 with |x| <= 1, η = 1/4: every weight is a multiple
    of 1/8 below 2^5, every score one of 1/16 below 2^7, so both backends
    compute every score exactly (far fewer than 2^24 units), and the ties
    are real ties."""
    factory, loss, c = MODELS[name]
    rng = np.random.default_rng(3)
    X = (rng.integers(-2, 3, size=(60, 3)) / 2).astype(dtype)
    y = rng.integers(0, c, size=60)
    y[:c] = np.arange(c)
    sw = rng.choice([0.5, 1.0, 2.0], size=60).astype(dtype) if weighted else None
    eta, epochs = 0.25, 5
    W, b, scores, scales = _replay(X, y, loss, eta, epochs, fit_intercept, sw)
    ties = _margins(scores, loss) == 0
    # ties, and not only against the all-zero start
    assert np.count_nonzero(ties & np.any(scales != 0, axis=1)) >= 5
    for backend in BACKENDS:
        est = _fit(factory, backend, X, y, eta, epochs, fit_intercept, False, sw)
        np.testing.assert_array_equal(est.coef_, W.T)
        np.testing.assert_array_equal(est.intercept_, b)
        # averaging changes what is published, not the steps: the running
        # weights are still equal exactly, the averages to rounding
        avg = _fit(factory, backend, X, y, eta, epochs, fit_intercept, True, sw)
        np.testing.assert_array_equal(avg._W, W)
        ref_avg = _fit(factory, "numpy", X, y, eta, epochs, fit_intercept, True, sw)
        np.testing.assert_allclose(avg.coef_, ref_avg.coef_, rtol=0,
                                   atol=16 * np.finfo(dtype).eps * np.abs(W).max())
    # a shuffled order (the same one on both backends) keeps the arithmetic exact
    shuffled = [_fit(factory, backend, X, y, eta, epochs, fit_intercept, False, sw, shuffle=True)
                for backend in BACKENDS]
    np.testing.assert_array_equal(shuffled[0].coef_, shuffled[1].coef_)
    np.testing.assert_array_equal(shuffled[0].intercept_, shuffled[1].intercept_)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(MODELS))
def test_no_score_near_a_boundary_same_steps_to_rounding(name, dtype, fit_intercept):
    """Non-dyadic data and step (rounding on every operation): where every
    score keeps a margin far above its rounding, the backends make the same
    mistakes and end at the same weights to rounding."""
    factory, loss, c = MODELS[name]
    rng = np.random.default_rng(4)
    X = rng.normal(size=(40, 3)).astype(dtype)
    y = rng.integers(0, c, size=40)
    y[:c] = np.arange(c)
    eta, epochs = 0.1, 4
    W, b, scores, scales = _replay(X, y, loss, eta, epochs, fit_intercept)
    margins = _margins(scores, loss)
    # the first steps (until the first mistake) score 0 against all-zero
    # weights: exact in any arithmetic
    first = np.all(scales == 0, axis=1)
    assert 1 <= first.sum() <= c
    eps = np.finfo(dtype).eps
    assert np.all(margins[~first] > 1e3 * eps * scales[~first].max(axis=1))
    for backend in BACKENDS:
        est = _fit(factory, backend, X, y, eta, epochs, fit_intercept, average=False)
        tol = 64 * eps * max(1.0, np.abs(W).max())
        np.testing.assert_allclose(est.coef_, W.T, rtol=0, atol=tol)
        np.testing.assert_allclose(est.intercept_, b, rtol=0, atol=tol)


def test_the_statement_leaves_out_a_near_tie():
    """A fit the statement makes no promise for: η = 0.01 is not dyadic, and
    its running weight returns to within rounding of 0 (0.03 − 0.01·3), so
    the next score is within rounding of the boundary, a tie in exact
    arithmetic that each backend may round either way."""
    X = np.array([[4], [2], [0], [-3], [-2], [-5], [-5], [-5], [-4], [3], [2]], dtype=float)
    y = np.array([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    _, _, scores, scales = _replay(X, y, "perceptron", 0.01, 1, False)
    # the step before the last scores 3 w = 0.09, w = 0.03; the last one's
    # terms (2 w after w -= 0.01 · 3) are within rounding of 0.03
    assert scores[-2, 0] == pytest.approx(0.09)
    assert scales[-1, 0] <= 2 * 4 * np.finfo(float).eps * 0.03
    # the fits themselves stay finite and valid on both backends
    for backend in BACKENDS:
        est = _fit(Perceptron, backend, X, y, 0.01, 1, False, False)
        assert np.all(np.isfinite(est.coef_)) and abs(est.coef_[0, 0]) <= 0.02 + 1e-12
