"""The NumPy reference of the six linear models (fastlin.reference.linear)
checked against things it does not compute itself: finite differences,
numpy.linalg.lstsq, scikit-learn's LogisticRegression, scipy.optimize, and
hand-written update loops (the losses themselves: tests/test_losses.py)."""
import numpy as np
import pytest
from conftest import numerical_gradient, relative_error

from fastlin._losses import MULTI_OUTPUT as MULTI
from fastlin._losses import SINGLE_OUTPUT as SINGLE
from fastlin.reference import linear


def make_problem(rng, loss, n=30, m=4, c=1):
    """X (n, m), targets of the kind ``loss`` takes, W (m, c), b (c,), weights."""
    X = rng.normal(size=(n, m))
    if loss == "squared_error":
        y = rng.normal(size=n)
    elif loss in MULTI:
        y = rng.integers(0, c, size=n).astype(np.intp)
    else:
        y = rng.integers(0, 2, size=n).astype(np.float64)
    W = rng.normal(size=(m, c))
    b = rng.normal(size=c)
    sample_weight = rng.uniform(0.5, 2.0, size=n)
    return X, y, W, b, sample_weight


def kink_distance(loss, S):
    """How far the scores are from a point where the loss is not differentiable
    (the perceptron's s = 0, the multi-class perceptron's tie of the top two)."""
    if loss == "perceptron":
        return np.abs(S).min()
    if loss == "multiclass_perceptron" and S.shape[1] > 1:
        top2 = np.sort(S, axis=1)[:, -2:]
        return (top2[:, 1] - top2[:, 0]).min()
    return np.inf


# -- gradients vs central finite differences --------------------------------

GRADIENT_CASES = [(loss, 1) for loss in SINGLE] + [(loss, c) for loss in MULTI for c in (1, 2, 3)]


@pytest.mark.parametrize("alpha, weighted", [(0.0, False), (0.3, True)])
@pytest.mark.parametrize("loss, c", GRADIENT_CASES)
def test_gradient_matches_finite_differences(rng, loss, c, alpha, weighted):
    # Draw until every score is well away from a kink (a few draws at most),
    # so that the ±eps steps below never cross one.
    for _ in range(100):
        X, y, W, b, sw = make_problem(rng, loss, c=c)
        if kink_distance(loss, linear.scores(X, W, b)) > 1e-3:
            break
    else:
        pytest.fail("no kink-free draw")
    sw = sw if weighted else None

    def J():
        return linear.objective(X, y, W, b, loss, alpha, sw)

    J0, grad_W, grad_b = linear.gradient(X, y, W, b, loss, alpha, sw)
    assert J0 == pytest.approx(J(), rel=1e-14)
    fd_W = numerical_gradient(J, W)
    fd_b = numerical_gradient(J, b)
    assert grad_W.shape == W.shape and grad_b.shape == b.shape
    assert relative_error(grad_W, fd_W) <= 1e-6
    assert relative_error(grad_b, fd_b) <= 1e-6


# -- convergence to independent solvers -------------------------------------

def test_linear_regression_gd_matches_lstsq(rng):
    n, m = 80, 4
    X = rng.normal(size=(n, m))
    y = X @ rng.normal(size=m) + 0.7 + 0.3 * rng.normal(size=n)
    W, b = np.zeros((m, 1)), np.zeros(1)
    linear.gradient_descent(X, y, W, b, "squared_error", eta0=0.5, n_iter=2000)

    coef, *_ = np.linalg.lstsq(np.column_stack([X, np.ones(n)]), y, rcond=None)
    np.testing.assert_allclose(W[:, 0], coef[:m], rtol=0, atol=1e-6)
    np.testing.assert_allclose(b[0], coef[m], rtol=0, atol=1e-6)


def _standardized(X):
    return (X - X.mean(axis=0)) / X.std(axis=0)


def _binary_data(rng, n=100, m=3):
    X = _standardized(rng.normal(size=(n, m)))
    p = 1 / (1 + np.exp(-(X @ np.array([1.5, -1.0, 0.5]) + 0.3)))
    return X, (rng.uniform(size=n) < p).astype(np.float64)


def _multiclass_data(rng, n=120, m=3, c=3):
    X = _standardized(rng.normal(size=(n, m)))
    S = X @ rng.normal(size=(m, c)) + rng.normal(size=c)
    P = np.exp(S - S.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    y = np.array([rng.choice(c, p=p) for p in P], dtype=np.intp)
    return X, y


def _sklearn_logistic(X, y, alpha):
    from sklearn.linear_model import LogisticRegression

    # sklearn minimises C Σ l_i + ½||w||²; dividing by C n gives our
    # (1/n) Σ l_i + (α/2)||w||² with α = 1 / (C n). Intercept unpenalised in both.
    C = 1.0 / (X.shape[0] * alpha)
    clf = LogisticRegression(C=C, tol=1e-12, max_iter=10_000)
    return clf.fit(X, y)


def _scipy_minimize(X, y, loss, alpha, m, c):
    from scipy.optimize import minimize

    def fun(theta):
        W, b = theta[:m * c].reshape(m, c), theta[m * c:]
        J, gW, gb = linear.gradient(X, y, W, b, loss, alpha)
        return J, np.concatenate([gW.ravel(), gb])

    res = minimize(fun, np.zeros(m * c + c), jac=True, method="L-BFGS-B",
                   options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 10_000})
    return res.x[:m * c].reshape(m, c), res.x[m * c:]


def test_log_loss_gd_matches_sklearn_and_scipy(rng):
    X, y = _binary_data(rng)
    alpha = 0.05
    W, b = np.zeros((3, 1)), np.zeros(1)
    linear.gradient_descent(X, y, W, b, "log_loss", eta0=2.0, n_iter=3000, alpha=alpha)

    _, gW, gb = linear.gradient(X, y, W, b, "log_loss", alpha)
    assert max(np.abs(gW).max(), np.abs(gb).max()) < 1e-10     # converged

    clf = _sklearn_logistic(X, y, alpha)
    np.testing.assert_allclose(W[:, 0], clf.coef_[0], rtol=0, atol=1e-4)
    np.testing.assert_allclose(b, clf.intercept_, rtol=0, atol=1e-4)

    W_sp, b_sp = _scipy_minimize(X, y, "log_loss", alpha, 3, 1)
    np.testing.assert_allclose(W, W_sp, rtol=0, atol=1e-6)
    np.testing.assert_allclose(b, b_sp, rtol=0, atol=1e-6)


def test_softmax_gd_matches_sklearn_and_scipy(rng):
    X, y = _multiclass_data(rng)
    alpha, c = 0.05, 3
    W, b = np.zeros((3, c)), np.zeros(c)
    linear.gradient_descent(X, y, W, b, "softmax_cross_entropy", eta0=2.0, n_iter=3000, alpha=alpha)

    _, gW, gb = linear.gradient(X, y, W, b, "softmax_cross_entropy", alpha)
    assert max(np.abs(gW).max(), np.abs(gb).max()) < 1e-10     # converged

    clf = _sklearn_logistic(X, y, alpha)
    np.testing.assert_allclose(W, clf.coef_.T, rtol=0, atol=1e-4)
    # The unpenalised intercepts of a softmax are defined up to a common
    # shift (softmax(s + k) = softmax(s)): compare them centred.
    np.testing.assert_allclose(b - b.mean(), clf.intercept_ - clf.intercept_.mean(), rtol=0, atol=1e-4)

    W_sp, b_sp = _scipy_minimize(X, y, "softmax_cross_entropy", alpha, 3, c)
    np.testing.assert_allclose(W, W_sp, rtol=0, atol=1e-6)
    np.testing.assert_allclose(b - b.mean(), b_sp - b_sp.mean(), rtol=0, atol=1e-6)


# -- perceptrons on separable data ------------------------------------------

def _separable(rng, n, m, c, margin):
    """Points labelled by a random linear rule, keeping only those whose
    score gap (binary: |s|; multi-class: top minus runner-up) is >= margin."""
    if c == 1:
        W_true, b_true = rng.normal(size=(m, 1)), 0.1 * rng.normal(size=1)
    else:   # c directions spread around a circle, so every class gets points
        angles = 2 * np.pi * np.arange(c) / c + rng.uniform(0, 2 * np.pi)
        W_true = np.zeros((m, c))
        W_true[0], W_true[1] = np.cos(angles), np.sin(angles)
        W_true += 0.2 * rng.normal(size=(m, c))
        b_true = 0.1 * rng.normal(size=c)
    X = rng.uniform(-1, 1, size=(6 * n, m))
    S = X @ W_true + b_true
    if c == 1:
        keep = np.abs(S[:, 0]) >= margin
        y = (S[:, 0] >= 0).astype(np.float64)
    else:
        top2 = np.sort(S, axis=1)[:, -2:]
        keep = top2[:, 1] - top2[:, 0] >= margin
        y = S.argmax(axis=1).astype(np.intp)
    X, y = X[keep][:n], y[keep][:n]
    assert len(y) == n
    return X, y


@pytest.mark.parametrize("loss, c", [("perceptron", 1), ("multiclass_perceptron", 3)])
def test_perceptron_reaches_zero_training_errors(rng, loss, c):
    X, y = _separable(rng, n=200, m=4, c=c, margin=0.1)
    if c > 1:
        assert len(np.unique(y)) == c
    else:
        assert 0 < y.sum() < len(y)
    W, b = np.zeros((4, c)), np.zeros(c)
    t = 0
    for epoch in range(1, 201):
        _, t = linear.sgd_epoch(X, y, W, b, rng.permutation(len(y)), loss, eta0=1.0, t=t)
        if np.all(linear.predict(X, W, b, loss) == y):
            break
    assert np.all(linear.predict(X, W, b, loss) == y), f"{loss}: errors after {epoch} epochs"
    # An epoch with no mistake leaves the weights alone (the loss is 0).
    W0, b0 = W.copy(), b.copy()
    epoch_loss, _ = linear.sgd_epoch(X, y, W, b, rng.permutation(len(y)), loss, eta0=1.0, t=t)
    assert epoch_loss == 0.0
    np.testing.assert_array_equal(W, W0)
    np.testing.assert_array_equal(b, b0)


# -- sgd_epoch against a hand-written loop of the documented update rule -----

def _sigma(s):
    return 1 / (1 + np.exp(-s))


def _sample_loss(loss, s, y):
    """(l, dl/ds) of one sample, s (c,), re-derived from docs/math.md; moderate s only."""
    if loss == "squared_error":
        return 0.5 * (s[0] - y) ** 2, np.array([s[0] - y])
    if loss == "logistic_squared_error":
        h = _sigma(s[0])
        return 0.5 * (h - y) ** 2, np.array([(h - y) * h * (1 - h)])
    if loss == "log_loss":
        h = _sigma(s[0])
        return -(y * np.log(h) + (1 - y) * np.log(1 - h)), np.array([h - y])
    if loss == "perceptron":
        h = 1.0 if s[0] >= 0 else 0.0
        return (h - y) * s[0], np.array([h - y])
    onehot = np.eye(len(s))[y]
    if loss == "multiclass_perceptron":
        y_hat = int(np.argmax(s))
        return s[y_hat] - s[y], np.eye(len(s))[y_hat] - onehot
    if loss == "softmax_cross_entropy":
        p = np.exp(s) / np.exp(s).sum()
        return -np.log(p[y]), p - onehot
    raise AssertionError(loss)


def _hand_sgd(X, y, W, b, order, loss, eta0, batch_size, alpha, sw, power_t, t, W_avg, b_avg):
    """The update rule of linear.py's docstring, written out sample by sample."""
    W, b, W_avg, b_avg = W.copy(), b.copy(), W_avg.copy(), b_avg.copy()
    total = 0.0
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        t += 1
        eta = eta0 / t ** power_t                        # "invscaling"
        sum_W, sum_b = np.zeros_like(W), np.zeros_like(b)
        for i in batch:
            l, d = _sample_loss(loss, X[i] @ W + b, y[i])
            total += sw[i] * l
            sum_W += sw[i] * np.outer(X[i], d)
            sum_b += sw[i] * d
        W = W - eta * (sum_W / len(batch) + alpha * W)
        b = b - eta * sum_b / len(batch)
        W_avg = W_avg + (W - W_avg) / t
        b_avg = b_avg + (b - b_avg) / t
    return W, b, W_avg, b_avg, total / len(X), t


@pytest.mark.parametrize("batch_size", [1, 3])
@pytest.mark.parametrize("loss", SINGLE + MULTI)
def test_sgd_epoch_equals_hand_written_loop(rng, loss, batch_size):
    c = 3 if loss in MULTI else 1
    X, y, W, b, sw = make_problem(rng, loss, n=10, m=4, c=c)
    W *= 0.5
    args = dict(eta0=0.1, alpha=0.01, power_t=0.5)
    W_avg, b_avg = np.zeros_like(W), np.zeros_like(b)
    t_ref = t = 0
    W_ref, b_ref, Wa_ref, ba_ref = W.copy(), b.copy(), W_avg.copy(), b_avg.copy()
    for _ in range(2):                                    # two epochs: t carries over
        order = rng.permutation(len(y))
        W_ref, b_ref, Wa_ref, ba_ref, loss_ref, t_ref = _hand_sgd(
            X, y, W_ref, b_ref, order, loss, args["eta0"], batch_size, args["alpha"],
            sw, args["power_t"], t_ref, Wa_ref, ba_ref)
        epoch_loss, t = linear.sgd_epoch(
            X, y, W, b, order, loss, batch_size=batch_size, schedule="invscaling",
            t=t, sample_weight=sw, W_avg=W_avg, b_avg=b_avg, **args)
        assert t == t_ref == (_ + 1) * -(-len(y) // batch_size)
        assert epoch_loss == pytest.approx(loss_ref, rel=1e-12, abs=1e-15)
        np.testing.assert_allclose(W, W_ref, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(b, b_ref, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(W_avg, Wa_ref, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(b_avg, ba_ref, rtol=1e-12, atol=1e-14)


def test_sgd_epoch_without_intercept_keeps_b(rng):
    X, y, W, b, _ = make_problem(rng, "log_loss", n=10)
    b0 = b.copy()
    linear.sgd_epoch(X, y, W, b, np.arange(10), "log_loss", eta0=0.1, fit_intercept=False)
    np.testing.assert_array_equal(b, b0)


@pytest.mark.parametrize("loss", SINGLE + MULTI)
def test_full_minibatch_equals_one_gradient_descent_step(rng, loss):
    c = 3 if loss in MULTI else 1
    X, y, W, b, sw = make_problem(rng, loss, n=12, m=4, c=c)
    W_gd, b_gd = W.copy(), b.copy()
    data_loss = linear.objective(X, y, W, b, loss, 0.0, sw)
    linear.gradient_descent(X, y, W_gd, b_gd, loss, eta0=0.2, n_iter=1,
                            alpha=0.1, sample_weight=sw)
    epoch_loss, t = linear.sgd_epoch(X, y, W, b, rng.permutation(12), loss, eta0=0.2,
                                     batch_size=12, alpha=0.1, sample_weight=sw)
    assert t == 1
    np.testing.assert_allclose(W, W_gd, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(b, b_gd, rtol=1e-12, atol=1e-14)
    assert epoch_loss == pytest.approx(data_loss, rel=1e-12)


# -- logistic regression with the squared loss ------------------------------

def test_logistic_squared_error_descends_from_zero(rng):
    # Separable-ish: labels from a linear rule, 5% of them flipped.
    X = _standardized(rng.normal(size=(200, 3)))
    y = (X @ np.array([2.0, -1.0, 0.5]) + 0.3 >= 0).astype(np.float64)
    flip = rng.uniform(size=200) < 0.05
    y[flip] = 1 - y[flip]
    W, b = np.zeros((3, 1)), np.zeros(1)
    J0 = linear.objective(X, y, W, b, "logistic_squared_error")
    assert J0 == pytest.approx(0.125)                     # ½ (½ − y)² for every sample
    history = linear.gradient_descent(X, y, W, b, "logistic_squared_error", eta0=2.0, n_iter=300)
    J1 = linear.objective(X, y, W, b, "logistic_squared_error")
    assert history[0] == pytest.approx(J0)
    assert J1 < 0.5 * J0
    assert np.all(np.diff(history) <= 1e-15)              # monotone at this step size
    assert np.mean(linear.predict(X, W, b, "logistic_squared_error") == y) > 0.9
