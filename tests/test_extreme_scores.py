"""Predictions from scores at and beyond the end of the float range.

* Probabilities from scores of ±inf are the softmax's limit (the maximal
  classes share 1 equally, the rest get 0), and scores of ±1e308 (±3e38 in
  float32) give the same exact values; never NaN. ``predict`` and
  ``decision_function`` follow the same tie rule.
* A score whose product X W overflows inside (terms of +inf and −inf) is
  computed robustly: ±inf with the sign of the exact score when it is beyond
  the range, the exact score rounded when it is not; never NaN.
* A float32 model given float64 input beyond the float32 range says so.

The prediction code is the same for both backends; every estimator test runs
on both anyway, fitted by each.
"""
import warnings
from fractions import Fraction

import numpy as np
import pytest

from estimator_cases import BACKENDS, CLASSIFIERS, NAMES, make, make_data, quiet_fit
from fastlin import (LinearRegression, LogisticRegression, MLPClassifier, MulticlassPerceptron,
                     Perceptron, SoftmaxRegression)
from fastlin._numeric import affine_scores, margin, sigmoid, softmax

DTYPES = [np.float64, np.float32]
# per dtype: a finite score at the end of the range, and a power of two whose
# square overflows (so that x = ROOT, w = t / ROOT gives the score t exactly)
BIG = {np.float64: 1e308, np.float32: 3e38}
ROOT = {np.float64: 2.0 ** 600, np.float32: 2.0 ** 100}


def _limit(S):
    """The softmax's limit, row by row: the maximal classes share 1 equally
    (exact for the test scores, whose gaps are 0 or at least 1e308/3e38)."""
    top = S == S.max(axis=1, keepdims=True)
    return (top / top.sum(axis=1, keepdims=True)).astype(S.dtype)


def _exact(v, dtype):
    """The Fraction v rounded to dtype: ±inf beyond its range."""
    try:
        f = float(v)
    except OverflowError:
        return dtype(np.inf if v > 0 else -np.inf)
    with np.errstate(over="ignore"):
        return dtype(f)


def _exact_affine(X, W, b):
    """X W + b computed exactly (in fractions), then rounded to X's dtype;
    and the largest |term| of each score (as a float64, inf if beyond)."""
    dtype = X.dtype.type
    S = np.empty((X.shape[0], W.shape[1]), dtype=dtype)
    scale = np.empty(S.shape)
    for i in range(X.shape[0]):
        for j in range(W.shape[1]):
            terms = [Fraction(float(b[j]))] + [Fraction(float(x)) * Fraction(float(w))
                                              for x, w in zip(X[i], W[:, j])]
            S[i, j] = _exact(sum(terms), dtype)
            scale[i, j] = _exact(max(abs(t) for t in terms), np.float64)
    return S, scale


def _assert_rounded_exact(S, X, W, b):
    """S = X W + b to the rounding of a sum: ±inf exactly where the exact
    score is beyond the range, with its sign; elsewhere within a few units
    of the largest term (which may be beyond the range itself: the terms of
    a score can overflow and cancel)."""
    want, scale = _exact_affine(X, W, b)
    assert not np.isnan(S).any()
    np.testing.assert_array_equal(np.isinf(S), np.isinf(want))
    np.testing.assert_array_equal(S[np.isinf(S)], want[np.isinf(want)])
    finite = np.isfinite(want)
    tol = 8 * X.shape[1] * np.finfo(X.dtype).eps * scale[finite]
    assert np.all(np.abs(S[finite].astype(np.float64) - want[finite]) <= tol)
    return want


# --------------------------------------------------------------------------
# the helpers

@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_and_sigmoid_limits_at_infinite_and_huge_scores(dtype):
    inf, big = np.inf, BIG[dtype]
    S = np.array([[inf, -inf, 0.0], [inf, inf, 0.0], [inf, inf, inf], [-inf, -inf, -inf],
                  [-inf, -inf, 0.0], [big, -big, 0.0], [big, big, -big], [-big, -big, -big],
                  [-big, 0.0, -inf], [inf, big, 1.0], [1.0, 2.0, 3.0]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        P = softmax(S)
        h = sigmoid(S[:, 0])
        d = margin(S[:, :2])
    assert P.dtype == dtype
    np.testing.assert_array_equal(P[:-1], _limit(S[:-1]))
    E = np.exp(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(P[-1], E / E.sum(), rtol=1e-6)      # the ordinary case
    np.testing.assert_array_equal(
        h, np.array([1, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1 / (1 + np.exp(-1))], dtype=dtype))
    # s₁ − s₀: 0 on a tie (inf − inf included), else the difference's sign
    np.testing.assert_array_equal(
        d, np.array([-inf, 0, 0, 0, 0, -inf, 0, 0, big, -inf, 1], dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_affine_scores_equal_the_exact_scores_rounded(dtype, rng):
    """Random entries ±2^k u (u uniform in [1, 2), k up to 600, 100 in
    float32), a quarter of them ordinary: products overflow, and terms of
    +inf and −inf meet; the robust scores are the exact ones rounded (±inf
    beyond the range), to the rounding of a sum."""
    top = 600 if dtype == np.float64 else 100

    def entries(shape):
        huge = np.ldexp(rng.choice([-1.0, 1.0], shape) * rng.uniform(1, 2, shape),
                        rng.integers(top // 3, top, shape))
        return np.where(rng.uniform(size=shape) < 0.25, rng.normal(size=shape), huge).astype(dtype)
    n, m, c = 80, 4, 3
    X, W, b = entries((n, m)), entries((m, c)), entries(c) / 2.0 ** top
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        S = affine_scores(X, W, b)
    assert S.dtype == dtype
    with np.errstate(all="ignore"):
        plain = X @ W + b
    want = _assert_rounded_exact(S, X, W, b)
    assert np.isinf(want).any() and np.isfinite(want).any()
    # the plain product is wrong here: NaN, or (fused multiply-adds) an
    # infinity whatever the sign of the bigger term
    assert (np.isnan(plain) | (np.isinf(plain) & (plain != want))).any()


def test_affine_scores_common_case_is_the_plain_product(rng):
    X, W, b = rng.normal(size=(50, 7)), rng.normal(size=(7, 3)), rng.normal(size=3)
    np.testing.assert_array_equal(affine_scores(X, W, b), X @ W + b)


# --------------------------------------------------------------------------
# the estimators: parameters set so that the scores are given extremes

def _fitted(factory, backend, dtype, n_classes, m, **kw):
    """An estimator fitted (one epoch) by ``backend`` on float data of
    ``dtype``, with ``n_classes`` classes 0..n_classes-1 and m features."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(12, m)).astype(dtype)
    y = np.arange(12) % n_classes
    return quiet_fit(factory(backend=backend, max_iter=1, tol=None, random_state=0, **kw), X, y)


def _linear_with_scores(factory, backend, dtype, targets):
    """A linear classifier whose score row for X = [[x]] is ``targets`` (one
    per output; x W overflows to ±inf where a target is ±inf)."""
    targets = np.asarray(targets, dtype=dtype)
    c = len(targets)
    est = _fitted(factory, backend, dtype, max(c, 2), 1)
    root = ROOT[dtype]
    w = [np.sign(t) * root if np.isinf(t) else t / root for t in targets]
    est.coef_[...] = np.array(w, dtype=dtype).reshape(est.coef_.shape)
    est.intercept_[...] = 0
    return est, np.array([[root]], dtype=dtype)


def _network_with_scores(backend, dtype, targets):
    """A network whose output scores for X = [[1]] are ``targets``: two
    hidden units saturated at 1, V's columns summing to each target (a
    target of ±inf as two terms of ±BIG, whose sum overflows)."""
    c = len(targets)
    est = _fitted(MLPClassifier, backend, dtype, c, 1, hidden_size=2)
    (W, V), (b1, b2) = est.coefs_, est.intercepts_
    W[...] = ROOT[dtype]            # σ(1e300) = 1
    b1[...] = 0
    for j, t in enumerate(targets):
        V[:, j] = np.sign(t) * BIG[dtype] if np.isinf(t) else [t, 0]
    b2[...] = 0
    return est, np.array([[1.0]], dtype=dtype)


def _rows(dtype):
    inf, big = np.inf, BIG[dtype]
    return [[inf, -inf, 0.0], [inf, inf, 0.0], [-inf, -inf, -inf], [-inf, 0.0, -big],
            [big, -big, 0.0], [big, big, -inf], [-big, -big, -big], [0.0, big, inf]]


def _softmax_with_scores(backend, dtype, targets):
    return _linear_with_scores(SoftmaxRegression, backend, dtype, targets)


MULTI_PROBA = [("SoftmaxRegression", _softmax_with_scores), ("MLPClassifier", _network_with_scores)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,build", MULTI_PROBA, ids=[n for n, _ in MULTI_PROBA])
@pytest.mark.parametrize("n_classes", [3, 2])
def test_multiclass_probabilities_at_extreme_scores(name, build, backend, dtype, n_classes):
    for targets in _rows(dtype):
        targets = np.array(targets[:n_classes], dtype=dtype)
        est, X = build(backend, dtype, targets)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            P = est.predict_proba(X)
            D = est.decision_function(X)
            pred = est.predict(X)
        np.testing.assert_array_equal(P[0], _limit(targets[None])[0], err_msg=str(targets))
        # predict: the first maximal class, as the probabilities' tie rule says
        assert pred[0] == est.classes_[np.flatnonzero(P[0] == P[0].max())[0]]
        if n_classes == 2:
            # s₁ − s₀: 0 on a tie, else the sign of the winner (> 0: classes_[1])
            want = 0.0 if targets[1] == targets[0] else (1.0 if targets[1] > targets[0] else -1.0)
            assert np.sign(D[0]) == want and (D[0] > 0) == (pred[0] == est.classes_[1])
        else:
            np.testing.assert_array_equal(D[0], targets)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("loss", ["log_loss", "squared_error"])
def test_logistic_probabilities_at_extreme_scores(loss, backend, dtype):
    def factory(**kw):
        return LogisticRegression(loss=loss, standardize=False, **kw)
    for s in [np.inf, -np.inf, BIG[dtype], -BIG[dtype], 0.0]:
        est, X = _linear_with_scores(factory, backend, dtype, [s])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            P = est.predict_proba(X)
            D = est.decision_function(X)
            pred = est.predict(X)
        want = {1: [0, 1], -1: [1, 0], 0: [0.5, 0.5]}[int(np.sign(s))]
        np.testing.assert_array_equal(P[0], np.array(want, dtype=dtype))
        assert D[0] == dtype(s)
        assert pred[0] == est.classes_[int(s >= 0)]


# --------------------------------------------------------------------------
# products that overflow inside X W

def test_logistic_scores_overflow_inside_the_product():
    """Terms of ±1e555..1e569 in each row's score: the sign of the biggest
    decides (it dominates the others by 1e60 and more)."""
    X = np.array([[1e280, 1e286, 1e240, 1e250], [1e279, -1e287, 1e241, 1e260]])
    for backend in BACKENDS:
        est = quiet_fit(LogisticRegression(standardize=False, learning_rate=1e-4, batch_size=2, max_iter=1,
                                           fit_intercept=False, backend=backend), X, [0, 1])
        assert np.all(np.isfinite(est.coef_))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            D = est.decision_function(X)
            _assert_rounded_exact(D[:, None], X, est.coef_.T, est.intercept_)
            np.testing.assert_array_equal(D, [-np.inf, np.inf])
            np.testing.assert_array_equal(est.predict(X), [0, 1])
            np.testing.assert_array_equal(est.predict_proba(X), [[1.0, 0.0], [0.0, 1.0]])


LINEAR = {"LinearRegression": LinearRegression, "LogisticRegression": LogisticRegression,
          "Perceptron": Perceptron, "MulticlassPerceptron": MulticlassPerceptron,
          "SoftmaxRegression": SoftmaxRegression}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(LINEAR))
def test_linear_scores_with_inf_minus_inf_terms(name, backend, dtype):
    """Rows whose terms overflow to +inf and −inf: the scores are the exact
    ones rounded (±inf beyond the range, or finite after cancellation)."""
    root = ROOT[dtype]
    factory = LINEAR[name]
    c = 3 if name in ("MulticlassPerceptron", "SoftmaxRegression") else 1
    X = np.array([[root, root, 1.0], [root, -root, 1.0], [-root, root, 0.0], [1.0, 1.0, 1.0]],
                 dtype=dtype)
    if name == "LinearRegression":
        rng = np.random.default_rng(0)
        est = quiet_fit(factory(backend=backend, max_iter=1, tol=None),
                        rng.normal(size=(8, 3)).astype(dtype), rng.normal(size=8))
    else:
        est = _fitted(factory, backend, dtype, max(c, 2), 3)
    # column j: [root, −root (1 + 2^-10 j), 2]: row 0's terms are +inf and −inf
    # (the second wins by 2^-10 j root², or they cancel at j = 0, leaving 2.5);
    # rows 1 and 2 are beyond the range, row 3 is finite
    W = np.array([[root, -root * (1 + 2.0 ** -10 * j), 2.0] for j in range(c)], dtype=dtype).T
    est.coef_[...] = W[:, 0] if name == "LinearRegression" else W.T
    est.intercept_[...] = 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if name == "LinearRegression":
            _assert_rounded_exact(est.predict(X)[:, None], X, W, est.intercept_)
            return
        D = est.decision_function(X)
        pred = est.predict(X)
        P = est.predict_proba(X) if hasattr(est, "predict_proba") else None
    want = _assert_rounded_exact(D[:, None] if c == 1 else D, X, W, est.intercept_)
    best = (D >= 0).astype(int) if c == 1 else D.argmax(axis=1)
    np.testing.assert_array_equal(pred, est.classes_[best])
    if P is not None:
        assert np.all(np.isfinite(P))
        S = np.column_stack([-want[:, 0], want[:, 0]]) if c == 1 else want
        extreme = np.isinf(S).any(axis=1)
        np.testing.assert_array_equal(P[extreme], _limit(S[extreme]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_network_scores_with_overflowing_products(backend, dtype):
    """Both layers: hidden pre-activations with +inf and −inf terms, and
    output scores whose terms' partial sums overflow though they cancel."""
    root, big = ROOT[dtype], BIG[dtype]
    est = _fitted(MLPClassifier, backend, dtype, 3, 2, hidden_size=4)
    (W, V), (b1, b2) = est.coefs_, est.intercepts_
    X = np.array([[root, root], [root, -root], [-root, root]], dtype=dtype)
    W[...] = np.array([[root, root, root, root],
                       [-root * 1.5, -root * 0.5, -root * 1.5, -root * 0.5]], dtype=dtype)
    b1[...] = 0
    V[...] = np.array([[big, 1, 0], [big, -1, 0], [-big, 1, 0], [-big, -1, 0]], dtype=dtype)
    b2[...] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        S = est.decision_function(X)
        P = est.predict_proba(X)
        pred = est.predict(X)
    H = _exact_affine(X, W, b1)[0]               # row 0: [−inf, +inf, −inf, +inf]
    assert np.isinf(H).all()
    want = _assert_rounded_exact(S, sigmoid(H), V, b2)
    assert np.all(np.isfinite(P))
    np.testing.assert_allclose(P, softmax(want), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(pred, est.classes_[S.argmax(axis=1)])


# --------------------------------------------------------------------------
# float64 input beyond the float32 range of a float32 model

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
def test_float32_model_says_input_overflows_float32(name, backend):
    X, y = make_data(name, dtype=np.float32)
    est = quiet_fit(make(name, backend=backend, max_iter=1), X, y)
    X_big = X[:3].astype(np.float64)
    X_big[1, 0] = 1e39
    methods = ["predict"] + (["decision_function"] if name in CLASSIFIERS else []) + (
        ["predict_proba"] if hasattr(est, "predict_proba") else [])
    for method in methods:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(ValueError, match=r"overflow float32, the dtype of .*parameters"):
                getattr(est, method)(X_big)
    with pytest.raises(ValueError, match="overflow float32"):
        est.partial_fit(X_big, y[:3])
    # a real inf is still an inf
    X_big[1, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        est.predict(X_big)
    # float64 values within the float32 range are fine
    X_big[1, 0] = 3e38
    assert est.predict(X_big).shape == (3,)
