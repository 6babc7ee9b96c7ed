"""The NumPy reference network (fastlin.reference.network) against finite
differences, hand-written update rules, and a problem no linear model solves."""
import warnings

import numpy as np
import pytest

from fastlin.reference import network as net


def small_problem(n=9, m=4, hidden=5, c=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, m)).astype(dtype)
    y = rng.integers(0, c, size=n).astype(np.intp)
    params = net.init_params(m, hidden, c, random_state=seed, dtype=dtype)
    params[1] += rng.standard_normal(hidden).astype(dtype)   # non-zero biases too
    params[3] += rng.standard_normal(c).astype(dtype)
    w = rng.uniform(0.2, 3.0, size=n)
    return X, y, params, w


def rings(n=400, seed=0):
    """Two concentric rings in 2-D (radius ~1 and ~2.2): no line separates them."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n).astype(np.intp)
    radius = np.where(y == 0, 1.0, 2.2) + 0.15 * rng.standard_normal(n)
    angle = rng.uniform(0, 2 * np.pi, size=n)
    X = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    return X, y


def central_differences(f, params, h=1e-6):
    """∂f/∂θ for every entry of every parameter block, (f(θ+h) − f(θ−h)) / 2h."""
    grads = []
    for p in params:
        g = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            saved = p[idx]
            p[idx] = saved + h
            f_plus = f()
            p[idx] = saved - h
            f_minus = f()
            p[idx] = saved
            g[idx] = (f_plus - f_minus) / (2 * h)
        grads.append(g)
    return grads


def rel_err(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)


def test_init_params_shapes_dtype_and_seed():
    for dtype in (np.float32, np.float64):
        W, b1, V, b2 = net.init_params(6, 4, 3, random_state=1, dtype=dtype)
        assert [a.shape for a in (W, b1, V, b2)] == [(6, 4), (4,), (4, 3), (3,)]
        assert all(a.dtype == dtype for a in (W, b1, V, b2))
        assert not b1.any() and not b2.any()
        assert np.abs(W).max() <= 4 * np.sqrt(6 / 10)
        assert np.abs(V).max() <= 4 * np.sqrt(6 / 7)
    a = net.init_params(6, 4, 3, random_state=1)
    b = net.init_params(6, 4, 3, random_state=np.random.default_rng(1))
    c = net.init_params(6, 4, 3, random_state=2)
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_forward_predict_shapes():
    X, y, params, _ = small_problem()
    Z, Q = net.forward(X, *params)
    assert Z.shape == (9, 5) and Q.shape == (9, 3)
    assert np.all((Z > 0) & (Z < 1))
    np.testing.assert_allclose(Q.sum(axis=1), 1.0)
    np.testing.assert_array_equal(net.predict_proba(X, *params), Q)
    np.testing.assert_array_equal(net.predict(X, *params), Q.argmax(axis=1))
    assert net.predict(X, *params).dtype == np.intp


def test_predict_lowest_index_on_ties():
    W = np.zeros((2, 3)); b1 = np.zeros(3); V = np.zeros((3, 4)); b2 = np.array([0.0, 1.0, 1.0, 0.0])
    assert net.predict(np.ones((2, 2)), W, b1, V, b2).tolist() == [1, 1]


@pytest.mark.parametrize("alpha", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
def test_gradient_equals_central_differences(alpha, weighted):
    X, y, params, w = small_problem()
    sw = w if weighted else None
    J, grads = net.loss_and_gradient(X, y, params, alpha, sw)
    assert J == pytest.approx(net.objective(X, y, params, alpha, sw), rel=1e-14)
    fd = central_differences(lambda: net.objective(X, y, params, alpha, sw), params)
    for name, g, g_fd in zip(["W", "b1", "V", "b2"], grads, fd):
        assert g.shape == g_fd.shape
        assert rel_err(g, g_fd) <= 1e-6, name


def test_objective_matches_definition():
    """J = −(1/n) Σ w_i log Q_{i,y_i} + (α/2)(||W||² + ||V||²), from forward()."""
    X, y, params, w = small_problem()
    _, Q = net.forward(X, *params)
    W, _, V, _ = params
    expected = -(w * np.log(Q[np.arange(len(y)), y])).mean() + 0.15 * ((W**2).sum() + (V**2).sum())
    assert net.objective(X, y, params, 0.3, w) == pytest.approx(expected, rel=1e-12)


def test_extreme_inputs_finite_without_warnings():
    X, y, params, w = small_problem()
    X = X * 1e4                        # hidden pre-activations ~ ±1e4: σ saturates
    params[2] *= 1e4                   # output scores ~ ±1e4
    params[3][:] = [1e4, -1e4, 0.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
            J, grads = net.loss_and_gradient(X, y, params, 0.1, w)
            Z, Q = net.forward(X, *params)
            pred = net.predict(X, *params)
    assert np.isfinite(J) and J > 1e3          # confidently wrong samples cost ~1e4
    assert all(np.all(np.isfinite(g)) for g in grads)
    assert np.all(np.isfinite(Q)) and np.all(np.isfinite(Z))
    assert pred.shape == y.shape


def test_gradient_dtype_follows_params():
    X, y, params, w = small_problem(dtype=np.float32)
    J, grads = net.loss_and_gradient(X, y, params, 0.1, w)
    assert all(g.dtype == np.float32 for g in grads)


def manual_steps(X, y, params, order, batch_size, eta, alpha, momentum, nesterov, sw):
    """The update rules of sgd_epoch, written out from loss_and_gradient."""
    params = [p.copy() for p in params]
    vel = [np.zeros_like(p) for p in params]
    losses = 0.0
    for start in range(0, len(order), batch_size):
        B = order[start:start + batch_size]
        wB = None if sw is None else sw[B]
        _, g = net.loss_and_gradient(X[B], y[B], params, alpha, wB)
        _, Q = net.forward(X[B], *params)
        ce = -np.log(Q[np.arange(len(B)), y[B]])
        losses += (ce if wB is None else wB * ce).sum()
        for i in range(4):
            if momentum == 0:
                params[i] = params[i] - eta * g[i]
            else:
                vel[i] = momentum * vel[i] - eta * g[i]
                params[i] = params[i] + (momentum * vel[i] - eta * g[i] if nesterov else vel[i])
    return params, vel, losses / X.shape[0]


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_epoch_follows_update_rules(momentum, nesterov):
    X, y, params, w = small_problem(n=11)
    order = np.random.default_rng(3).permutation(11)
    expected, exp_vel, exp_loss = manual_steps(X, y, params, order, 4, 0.2, 0.05,
                                               momentum, nesterov, w)
    vel = [np.zeros_like(p) for p in params] if momentum else None
    loss, t = net.sgd_epoch(X, y, params, order, eta0=0.2, batch_size=4, alpha=0.05,
                            momentum=momentum, nesterov=nesterov, velocities=vel,
                            t=5, sample_weight=w)
    assert t == 5 + 3                                   # batches of 4, 4, 3
    assert loss == pytest.approx(exp_loss, rel=1e-12)
    for p, e in zip(params, expected):
        np.testing.assert_allclose(p, e, rtol=1e-12, atol=1e-14)
    if momentum:
        for v, e in zip(vel, exp_vel):
            np.testing.assert_allclose(v, e, rtol=1e-12, atol=1e-14)


def test_sgd_epoch_invscaling_and_full_batch_loss():
    """One full batch: the epoch loss is the objective before the step (α = 0),
    and the step is θ − η₀/t^p ∇J."""
    X, y, params, _ = small_problem()
    J, g = net.loss_and_gradient(X, y, params)
    before = [p.copy() for p in params]
    loss, t = net.sgd_epoch(X, y, params, np.arange(9), eta0=0.5, batch_size=100,
                            schedule="invscaling", power_t=0.5, t=3)
    assert t == 4 and loss == pytest.approx(J, rel=1e-13)
    for p, p0, gi in zip(params, before, g):
        np.testing.assert_allclose(p, p0 - 0.25 * gi, rtol=1e-13)


def test_momentum_without_velocities_raises():
    X, y, params, _ = small_problem()
    with pytest.raises(ValueError):
        net.sgd_epoch(X, y, params, np.arange(9), eta0=0.1, momentum=0.9)


def test_rings_not_linear_but_network_learns_them():
    from sklearn.linear_model import LogisticRegression

    X, y = rings()
    assert LogisticRegression().fit(X, y).score(X, y) < 0.75   # no line separates them
    params = net.init_params(2, 16, 2, random_state=0)
    vel = [np.zeros_like(p) for p in params]
    rng = np.random.default_rng(0)
    t = 0
    losses = []
    for _ in range(150):
        loss, t = net.sgd_epoch(X, y, params, rng.permutation(len(y)), eta0=0.5,
                                batch_size=16, momentum=0.9, velocities=vel, t=t)
        losses.append(loss)
    accuracy = (net.predict(X, *params) == y).mean()
    assert accuracy >= 0.97
    assert losses[-1] < 0.2 * losses[0]
