"""The Cython network epoch (fastlin._mlp_fast) against the NumPy reference
epoch on the same batches, its input checks, and a real learning task."""
import numpy as np
import pytest

from fastlin import _mlp_fast as fast
from fastlin.reference import network as net

RTOL = {np.float64: 1e-9, np.float32: 1e-4}


def problem(n=53, m=7, hidden=6, c=4, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, m)).astype(dtype)
    y = rng.integers(0, c, size=n).astype(np.intp)
    params = net.init_params(m, hidden, c, random_state=seed, dtype=dtype)
    params[1] += 0.3 * rng.standard_normal(hidden).astype(dtype)
    params[3] += 0.3 * rng.standard_normal(c).astype(dtype)
    w = rng.uniform(0.2, 3.0, size=n).astype(dtype)
    return X, y, params, w


def assert_close(actual, expected, rtol):
    """Relative to the block's largest entry (entries may pass through zero)."""
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    scale = max(np.abs(expected).max(), 1e-30)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def run_both(X, y, params, order, n_epochs=1, **kw):
    """The same epochs from the same start through the reference and the kernel."""
    momentum = kw.get("momentum", 0.0)
    p_ref, p_fast = [p.copy() for p in params], [p.copy() for p in params]
    v_ref = [np.zeros_like(p) for p in params] if momentum else None
    v_fast = [np.zeros_like(p) for p in params] if momentum else None
    t_ref = t_fast = kw.pop("t", 0)
    for _ in range(n_epochs):
        loss_ref, t_ref = net.sgd_epoch(X, y, p_ref, order, velocities=v_ref, t=t_ref, **kw)
        loss_fast, t_fast = fast.sgd_epoch(X, y, p_fast, order, velocities=v_fast, t=t_fast, **kw)
    return (loss_ref, t_ref, p_ref, v_ref), (loss_fast, t_fast, p_fast, v_fast)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.8, True)])
@pytest.mark.parametrize("weighted", [False, True])
def test_epoch_equals_reference(dtype, momentum, nesterov, weighted):
    X, y, params, w = problem(dtype=dtype)
    order = np.random.default_rng(1).permutation(len(y))
    ref, got = run_both(X, y, params, order, eta0=0.4, batch_size=10, alpha=0.02,
                        momentum=momentum, nesterov=nesterov, t=3,
                        sample_weight=w if weighted else None)   # batches 10 x 5 + 3
    rtol = RTOL[dtype]
    assert got[1] == ref[1] == 3 + 6
    assert isinstance(got[0], float)
    assert got[0] == pytest.approx(ref[0], rel=rtol)
    for a, e in zip(got[2], ref[2]):
        assert_close(a, e, rtol)
    if momentum:
        for a, e in zip(got[3], ref[3]):
            assert_close(a, e, rtol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_several_epochs_invscaling_batch_one_and_consecutive_order(dtype):
    """Batch size 1; a consecutive order (read in place, no gather) over a
    subset of the samples; the invscaling schedule; several epochs."""
    X, y, params, w = problem(n=20, dtype=dtype)
    ref, got = run_both(X, y, params, np.arange(3, 17), n_epochs=3, eta0=0.5, batch_size=1,
                        alpha=0.01, schedule="invscaling", power_t=0.3, sample_weight=w)
    assert got[1] == ref[1] == 42
    assert got[0] == pytest.approx(ref[0], rel=RTOL[dtype])
    for a, e in zip(got[2], ref[2]):
        assert_close(a, e, 3 * RTOL[dtype])


def test_batch_larger_than_order_and_empty_order():
    X, y, params, _ = problem()
    ref, got = run_both(X, y, params, np.arange(len(y))[::-1].copy(), eta0=0.1,
                        batch_size=1000)
    assert got[1] == ref[1] == 1
    for a, e in zip(got[2], ref[2]):
        assert_close(a, e, 1e-9)
    p = [q.copy() for q in params]
    loss, t = fast.sgd_epoch(X, y, p, np.empty(0, dtype=np.intp), eta0=0.1, t=7)
    assert (loss, t) == (0.0, 7)
    assert all(np.array_equal(a, b) for a, b in zip(p, params))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dtype_follows_input_and_read_only_inputs(dtype):
    X, y, params, w = problem(dtype=dtype)
    order = np.random.default_rng(2).permutation(len(y))
    expected = [p.copy() for p in params]
    loss_ref, _ = net.sgd_epoch(X, y, expected, order, eta0=0.2, sample_weight=w)
    for a in (X, y, order, w):
        a.setflags(write=False)
    loss, t = fast.sgd_epoch(X, y, params, order, eta0=0.2, sample_weight=w)
    assert t == 2
    assert all(p.dtype == dtype for p in params)
    assert loss == pytest.approx(loss_ref, rel=RTOL[dtype])
    for a, e in zip(params, expected):
        assert_close(a, e, RTOL[dtype])


def test_non_finite_values_propagate_without_error():
    X, y, params, _ = problem()
    X[5, 2] = np.nan
    loss, _ = fast.sgd_epoch(X, y, params, np.arange(len(y)), eta0=0.1, batch_size=8)
    assert np.isnan(loss) and not np.all(np.isfinite(params[0]))
    X, y, params, _ = problem()
    params[2][0, 0] = np.inf
    loss, _ = fast.sgd_epoch(X, y, params, np.arange(len(y)), eta0=0.1, batch_size=8)
    assert not np.isfinite(loss)


def test_extreme_scores_stay_finite():
    """Pre-activations of ±1e4 saturate σ and the softmax without overflow."""
    X, y, params, _ = problem()
    X *= 1e4
    params[2] *= 1e3
    ref, got = run_both(X, y, params, np.arange(len(y)), eta0=1e-6, batch_size=16)
    assert np.isfinite(got[0]) and got[0] > 100
    assert all(np.all(np.isfinite(p)) for p in got[2])
    assert got[0] == pytest.approx(ref[0], rel=1e-9)


def bad_calls():
    X, y, params, _ = problem()
    order = np.arange(len(y))
    W, b1, V, b2 = params
    f32 = [p.astype(np.float32) for p in params]
    vel_bad = [np.zeros((2, 2)), b1.copy(), V.copy(), b2.copy()]
    yield TypeError, (X.astype(int), y, params, order), {}
    yield TypeError, (X.astype(np.float32), y, params, order), {}            # params float64
    yield TypeError, (X, y, f32, order), {}
    yield TypeError, (X, y.astype(float), params, order), {}
    yield TypeError, (X, y, params, order.astype(float)), {}
    yield TypeError, (X, y.astype(np.int32), params, order), {}               # not intp
    yield TypeError, (X, y, params, order.astype(np.int32)), {}
    yield TypeError, (X, y.tolist(), params, order), {}
    yield TypeError, (X, y, params, order.tolist()), {}
    yield TypeError, (X, y, params, order), {"sample_weight": np.ones(len(y), np.float32)}
    yield TypeError, (X, y, params, order), {"sample_weight": [1.0] * len(y)}
    yield ValueError, (X, np.repeat(y, 2)[::2], params, order), {}            # strided
    yield ValueError, (X, y, params, np.repeat(order, 2)[::2]), {}
    yield ValueError, (X, y[:, None], params, order), {}
    yield ValueError, (X, y, params, order), {"sample_weight": np.ones(2 * len(y))[::2]}
    yield TypeError, (X.tolist(), y, params, order), {}
    yield ValueError, (np.asfortranarray(X), y, params, order), {}
    yield ValueError, (X[:, ::2], y, params, order), {}
    yield ValueError, (X.ravel(), y, params, order), {}
    yield ValueError, (X, y[:-1], params, order), {}
    yield ValueError, (X, y + 4, params, order), {}                          # label >= c
    yield ValueError, (X, y - 1, params, order), {}                          # label < 0
    yield ValueError, (X, y, params, order + 1), {}                          # index = n
    yield ValueError, (X, y, params, -order), {}
    yield ValueError, (X, y, [W[:-1], b1, V, b2], order), {}
    yield ValueError, (X, y, [W, b1[:-1], V, b2], order), {}
    yield ValueError, (X, y, [W, b1, V[:, :-1], b2], order), {}
    yield ValueError, (X, y, [W, b1, V, b2[:, None]], order), {}
    yield ValueError, (X, y, [W, b1, V], order), {}
    yield ValueError, (X, y, [np.asfortranarray(W), b1, V, b2], order), {}
    yield ValueError, (X, y, params, order), {"batch_size": 0}
    yield ValueError, (X, y, params, order), {"momentum": 0.9}                # no velocities
    yield ValueError, (X, y, params, order), {"momentum": 0.9, "velocities": vel_bad}
    yield ValueError, (X, y, params, order), {"schedule": "sometimes"}
    yield ValueError, (X, y, params, order), {"schedule": "optimal"}        # alpha = 0
    yield ValueError, (X, y, params, order), {"sample_weight": np.ones(3)}
    yield ValueError, (X[:0], y[:0], params, order[:0]), {}


@pytest.mark.parametrize("error,args,kwargs", list(bad_calls()))
def test_bad_input_raises(error, args, kwargs):
    saved = [p.copy() for p in args[2]]
    with pytest.raises(error):
        fast.sgd_epoch(*args, eta0=0.1, **kwargs)
    assert all(np.array_equal(p, s) for p, s in zip(args[2], saved))       # untouched


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_learns_digits(dtype):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y.astype(np.intp), test_size=0.25,
                                              random_state=0, stratify=y)
    mean, std = X_tr.mean(axis=0), X_tr.std(axis=0)
    std[std == 0] = 1
    X_tr = np.ascontiguousarray((X_tr - mean) / std, dtype=dtype)
    X_te = np.ascontiguousarray((X_te - mean) / std, dtype=dtype)
    params = net.init_params(64, 64, 10, random_state=0, dtype=dtype)
    vel = [np.zeros_like(p) for p in params]
    rng = np.random.default_rng(0)
    t, losses = 0, []
    for _ in range(40):
        loss, t = fast.sgd_epoch(X_tr, y_tr, params, rng.permutation(len(y_tr)), eta0=0.1,
                                 batch_size=32, alpha=1e-3, momentum=0.9, velocities=vel, t=t)
        losses.append(loss)
    assert all(p.dtype == dtype for p in params)
    assert losses[-1] < 0.05 * losses[0]
    assert (net.predict(X_te, *params) == y_te).mean() >= 0.96


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernel_sigmoid_equals_reference_over_the_whole_range(dtype):
    """The kernel's polynomial exponential: σ relative to the reference
    (which uses numpy's exp) from −745 to 745, and NaN/±inf handled."""
    from fastlin.reference.losses import sigmoid

    s = np.concatenate([-np.logspace(-8, np.log10(745), 3000), [0.0] * 6,
                        np.logspace(-8, np.log10(745), 3000)])
    S = s.reshape(-1, 11).astype(dtype)     # vector lanes (4 or 8 wide) and a scalar tail
    b = np.linspace(-0.5, 0.5, 11).astype(dtype)
    got = fast._py_sigmoid_bias(S, b)
    with np.errstate(under="ignore"):
        expected = sigmoid((S + b).astype(np.float64))
    assert got.dtype == dtype
    tiny = np.finfo(dtype).tiny                    # below it σ is 0 or subnormal
    normal = expected > tiny * 1e3
    rel = np.abs(got[normal] - expected[normal]) / expected[normal]
    assert rel.max() <= (1e-14 if dtype == np.float64 else 2e-6)
    assert np.all(np.abs(got[~normal]) <= tiny * 1e3)
    special = fast._py_sigmoid_bias(np.array([[np.nan, np.inf, -np.inf]], dtype=dtype),
                                np.zeros(3, dtype=dtype))
    assert np.isnan(special[0, 0]) and special[0, 1] == 1 and special[0, 2] == 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernel_sigmoid_lanes_equal_its_scalar_tail(dtype):
    """A row's columns run through the vector exponential (4 float64 or 8
    float32 lanes) and its last ones through the scalar one: the same
    values in every column give the same bits, overflow, underflow to the
    subnormals and NaN included."""
    v = np.concatenate([np.linspace(-800, 800, 20001),
                        np.random.default_rng(0).normal(scale=10, size=5000),
                        [np.nan, np.inf, -np.inf, 0.0, -0.0, 709.9, 710.1, -745.2, -745.1,
                         88.7, 88.8, -103.9, -87.4]]).astype(dtype)
    S = np.repeat(v[:, None], 11, axis=1)
    got = fast._py_sigmoid_bias(S, np.zeros(11, dtype=dtype))
    tail = got[:, [10]]
    assert np.all((got == tail) | (np.isnan(got) & np.isnan(tail)))


def test_arguments_are_checked_not_converted():
    """The linear kernel's rule: labels and order intp, sample_weight in X's
    dtype; the message names the argument."""
    X, y, params, w = problem(dtype=np.float32)
    order = np.arange(len(y))
    with pytest.raises(TypeError, match="y must be an ndarray of dtype intp, got int32"):
        fast.sgd_epoch(X, y.astype(np.int32), params, order, eta0=0.1)
    with pytest.raises(TypeError, match="order must be an ndarray of dtype intp, got uint64"):
        fast.sgd_epoch(X, y, params, order.astype(np.uint64), eta0=0.1)
    with pytest.raises(TypeError, match="sample_weight must be an ndarray of X's dtype float32"):
        fast.sgd_epoch(X, y, params, order, eta0=0.1, sample_weight=w.astype(np.float64))
    with pytest.raises(ValueError, match=r"order must hold sample indices in 0\.\.52"):
        fast.sgd_epoch(X, y, params, order[::-1] + 1, eta0=0.1)
