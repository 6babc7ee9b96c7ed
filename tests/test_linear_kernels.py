"""The Cython kernels (fastlin._linear_fast) against the NumPy reference
(fastlin.reference.linear) on the same inputs, initial weights and order:
float64 to relative 1e-10 after one epoch, float32 to 1e-4; plus dtypes,
read-only and memory-mapped inputs, and bad input that must raise."""
import numpy as np
import pytest
from conftest import relative_error

from fastlin import _linear_fast as fast
from fastlin._losses import MULTI_OUTPUT as MULTI
from fastlin._losses import SINGLE_OUTPUT as SINGLE
from fastlin.reference import linear as ref

LOSSES = SINGLE + MULTI
TOL = {np.float64: 1e-10, np.float32: 1e-4}


def make_problem(loss, dtype=np.float64, n=40, m=5, c=3, seed=0):
    """X (n, m), targets of the kind ``loss`` takes, W (m, c'), b (c',), sample
    weights and a shuffled order; c' = 1 for the single-output losses."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, m)).astype(dtype)
    if loss in MULTI:
        y = rng.integers(0, c, size=n).astype(np.intp)
    else:
        c = 1
        if loss == "squared_error":
            y = rng.normal(size=n).astype(dtype)
        else:
            y = rng.integers(0, 2, size=n).astype(dtype)
    W = (0.3 * rng.normal(size=(m, c))).astype(dtype)
    b = (0.3 * rng.normal(size=c)).astype(dtype)
    sample_weight = rng.uniform(0.5, 2.0, size=n).astype(dtype)
    order = rng.permutation(n).astype(np.intp)
    return X, y, W, b, sample_weight, order


def run_both(X, y, W, b, order, loss, weighted_sw=None, average=False, **kw):
    """One epoch of the kernel and of the reference from copies of the same
    state; returns the two results ((loss, t), W, b, W_avg, b_avg)."""
    out = []
    for impl in (fast, ref):
        W_, b_ = W.copy(), b.copy()
        avg = {}
        if average:
            # a non-trivial running average, as after kw["t"] earlier steps
            avg = dict(W_avg=(W + 0.1).astype(W.dtype), b_avg=(b - 0.1).astype(b.dtype))
        res = impl.sgd_epoch(X, y, W_, b_, order, loss, sample_weight=weighted_sw, **avg, **kw)
        out.append((res, W_, b_, avg.get("W_avg"), avg.get("b_avg")))
    return out


def assert_close(fast_out, ref_out, tol):
    (loss_f, t_f), W_f, b_f, Wa_f, ba_f = fast_out
    (loss_r, t_r), W_r, b_r, Wa_r, ba_r = ref_out
    assert t_f == t_r
    assert W_f.dtype == W_r.dtype and b_f.dtype == b_r.dtype
    assert relative_error(loss_f, loss_r) <= tol
    assert relative_error(W_f, W_r) <= tol
    assert relative_error(b_f, b_r) <= tol
    if Wa_f is not None:
        assert relative_error(Wa_f, Wa_r) <= tol
        assert relative_error(ba_f, ba_r) <= tol


# -- one epoch, kernel vs reference ------------------------------------------

# (batch_size, alpha, fit_intercept, schedule, weighted, average, t0)
EPOCH_CASES = [
    (1, 0.0, True, "constant", False, False, 0),
    (1, 0.0, False, "constant", False, False, 0),
    (1, 0.1, True, "constant", False, False, 0),
    (1, 0.05, True, "invscaling", True, False, 3),
    (1, 0.0, True, "constant", False, True, 0),
    (1, 0.1, True, "invscaling", True, True, 5),
    (7, 0.0, True, "constant", False, False, 0),
    (7, 0.1, False, "invscaling", True, True, 2),
    (40, 0.1, True, "constant", True, True, 0),     # batch = n: one full-batch step
    (1000, 0.0, True, "constant", False, False, 0),  # batch > n
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size, alpha, fit_intercept, schedule, weighted, average, t0",
                         EPOCH_CASES)
@pytest.mark.parametrize("loss", LOSSES)
def test_sgd_epoch_equals_reference(loss, batch_size, alpha, fit_intercept, schedule,
                                    weighted, average, t0, dtype):
    X, y, W, b, sw, order = make_problem(loss, dtype)
    eta0 = 0.5 if loss in ("perceptron", "multiclass_perceptron") else 0.1
    fast_out, ref_out = run_both(
        X, y, W, b, order, loss, weighted_sw=sw if weighted else None, average=average,
        eta0=eta0, batch_size=batch_size, alpha=alpha, fit_intercept=fit_intercept,
        schedule=schedule, power_t=0.5, t=t0)
    assert_close(fast_out, ref_out, TOL[dtype])


@pytest.mark.parametrize("loss", LOSSES)
def test_perceptron_from_zero_and_subset_order(loss):
    """W = 0 at the start (every score ties at 0: the perceptron predicts 1,
    argmax picks class 0), two epochs over an order with repeats and gaps."""
    X, y, W, b, _, _ = make_problem(loss)
    W[:] = 0
    b[:] = 0
    order = np.array([3, 3, 0, 7, 39, 12, 7], dtype=np.intp)
    outs = []
    for impl in (fast, ref):
        W_, b_ = W.copy(), b.copy()
        r1 = impl.sgd_epoch(X, y, W_, b_, order, loss, eta0=1.0)
        r2 = impl.sgd_epoch(X, y, W_, b_, order[::-1].copy(), loss, eta0=1.0, t=r1[1])
        outs.append((r1, r2, W_, b_))
    for a, b_ref in zip(outs[0], outs[1]):
        assert relative_error(np.ravel(a), np.ravel(b_ref)) <= 1e-12


def test_l2_scale_renormalisation():
    """A strong shrinkage drives the scale below its floor many times in one
    epoch (1 − ηα = 0.1 each step), or makes 1 − ηα negative for the first
    steps (invscaling from η₀ = 1, α = 1.5): still the reference to 1e-10."""
    cases = [dict(eta0=0.1, alpha=9.0, t=1),
             dict(eta0=1.0, alpha=1.5, schedule="invscaling")]
    for loss in ("log_loss", "softmax_cross_entropy"):
        X, y, W, b, sw, order = make_problem(loss, n=200)
        for kw in cases:
            fast_out, ref_out = run_both(X, y, W, b, order, loss, weighted_sw=sw,
                                         average=True, **kw)
            assert_close(fast_out, ref_out, 1e-10)


# -- full-batch gradient ------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("alpha, weighted", [(0.0, False), (0.3, True)])
@pytest.mark.parametrize("loss", LOSSES)
def test_gradient_equals_reference(loss, alpha, weighted, dtype):
    X, y, W, b, sw, _ = make_problem(loss, dtype, n=57, m=13)
    J_f, gW_f, gb_f = fast.gradient(X, y, W, b, loss, alpha, sw if weighted else None)
    J_r, gW_r, gb_r = ref.gradient(X, y, W, b, loss, alpha, sw if weighted else None)
    tol = TOL[dtype]
    assert gW_f.dtype == dtype and gb_f.dtype == dtype
    assert gW_f.shape == W.shape and gb_f.shape == b.shape
    assert relative_error(J_f, J_r) <= tol
    assert relative_error(gW_f, gW_r) <= tol
    assert relative_error(gb_f, gb_r) <= tol


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [127, 128, 131, 255, 256, 257, 700])
@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "multiclass_perceptron",
                                  "squared_error", "log_loss", "perceptron"])
def test_gradient_across_row_blocks(loss, n, dtype):
    """The multi-class gradient goes through blocks of 256 rows (two BLAS
    products each, float32 blocks summed in float64), the single-output
    float32 one through float32 sums added into float64 every 128 rows:
    around and across those boundaries, with short last blocks and rows
    left over from the 4-row blocks."""
    X, y, W, b, sw, _ = make_problem(loss, dtype, n=n, m=21, c=10)
    got = fast.gradient(X, y, W, b, loss, 0.2, sw)
    want = ref.gradient(X, y, W, b, loss, 0.2, sw)
    for a, e in zip(got, want):
        assert relative_error(a, e) <= TOL[dtype]


@pytest.mark.parametrize("m", [1, 7, 8, 9, 33])
def test_gradient_any_width(m):
    """Row lengths around the kernels' unrolling width."""
    for loss in ("squared_error", "softmax_cross_entropy"):
        X, y, W, b, sw, _ = make_problem(loss, n=23, m=m)
        got = fast.gradient(X, y, W, b, loss, 0.1, sw)
        want = ref.gradient(X, y, W, b, loss, 0.1, sw)
        for a, e in zip(got, want):
            assert relative_error(a, e) <= 1e-12


# -- inputs: dtypes, read-only, memmaps ---------------------------------------

@pytest.mark.parametrize("loss", ["log_loss", "softmax_cross_entropy"])
def test_read_only_and_memmap_inputs(tmp_path, loss):
    X, y, W, b, sw, order = make_problem(loss)
    mm = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=X.dtype, shape=X.shape)
    mm[:] = X
    mm.flush()
    X_mm = np.load(tmp_path / "X.npy", mmap_mode="r")
    for arr in (y, sw, order):
        arr.setflags(write=False)
    X_ro = X.copy()
    X_ro.setflags(write=False)
    want = ref.sgd_epoch(X, y, W.copy(), b.copy(), order, loss, eta0=0.1, sample_weight=sw)
    for X_in in (X_ro, X_mm):
        W_, b_ = W.copy(), b.copy()
        got = fast.sgd_epoch(X_in, y, W_, b_, order, loss, eta0=0.1, sample_weight=sw)
        assert relative_error(got[0], want[0]) <= 1e-10
        J = fast.gradient(X_in, y, W, b, loss, 0.1, sw)[0]
        assert relative_error(J, ref.gradient(X, y, W, b, loss, 0.1, sw)[0]) <= 1e-10


HUGE_CASES = [(loss, 1e4) for loss in LOSSES] + [
    (loss, 1e300) for loss in LOSSES if loss != "squared_error"]   # ½ s² overflows by nature


@pytest.mark.parametrize("loss, scale", HUGE_CASES)
def test_huge_scores_finite(loss, scale):
    """Scores of about ±1e4 and ±1e300 give the reference's finite loss and
    gradient, with no overflow in the reference either."""
    X, y, W, b, sw, _ = make_problem(loss, n=12, m=3)
    b = scale * np.linspace(-1, 1, b.size) if b.size > 1 else np.array([scale])
    for sign in (1, -1):
        with np.errstate(over="raise", invalid="raise"):
            want = ref.gradient(X, y, W, sign * b, loss, 0.0, sw)
        got = fast.gradient(X, y, W, sign * b, loss, 0.0, sw)
        for a, e in zip(got, want):
            assert np.isfinite(a).all()
            np.testing.assert_allclose(a, e, rtol=1e-12, atol=0)   # entry-wise: norms of 1e300 overflow


def test_nonfinite_weights_propagate():
    """A NaN or inf weight must not crash or hang the kernels; it shows up in
    the weights or the loss for the estimator's isfinite check."""
    for loss in LOSSES:
        X, y, W, b, _, order = make_problem(loss)
        for bad in (np.nan, np.inf):
            W_ = W.copy()
            W_[0, 0] = bad
            b_ = b.copy()
            for bs in (1, 7):
                epoch_loss, _ = fast.sgd_epoch(X, y, W_, b_, order, loss, eta0=0.1,
                                               batch_size=bs, alpha=0.1)
                assert not (np.isfinite(W_).all() and np.isfinite(epoch_loss))
        X, y, W, b, _, order = make_problem(loss)
        W_ = W.copy()
        W_[0, 0] = np.nan
        J, gW, gb = fast.gradient(X, y, W_, b, loss)
        assert not (np.isfinite(J) and np.isfinite(gW).all())


# -- bad input raises, never crashes --------------------------------------------

def _good(loss="log_loss"):
    X, y, W, b, sw, order = make_problem(loss)
    return dict(X=X, y=y, W=W, b=b, order=order, loss=loss, sample_weight=sw)


def _bad_cases():
    X, y, W, b, sw, order = make_problem("log_loss")
    _, yl, Wc, bc, _, _ = make_problem("softmax_cross_entropy")
    return [
        ("X float32, W float64", dict(X=X.astype(np.float32)), (TypeError, ValueError)),
        ("X int", dict(X=X.astype(np.int64)), (TypeError, ValueError)),
        ("X 1-D", dict(X=X[:, 0].copy()), (TypeError, ValueError)),
        ("X Fortran", dict(X=np.asfortranarray(X)), ValueError),
        ("X no rows", dict(X=X[:0], y=y[:0], sample_weight=sw[:0], order=order[:0]), ValueError),
        ("W wrong rows", dict(W=np.zeros((4, 1))), ValueError),
        ("W read-only", dict(W=np.zeros((5, 1)).copy().view()), None),
        ("b wrong length", dict(b=np.zeros(2)), ValueError),
        ("y wrong length", dict(y=y[:-1]), ValueError),
        ("y wrong dtype", dict(y=y.astype(np.float32)), TypeError),
        ("y list", dict(y=list(y)), TypeError),
        ("sample_weight wrong length", dict(sample_weight=sw[:3]), ValueError),
        ("order out of range", dict(order=np.array([0, 40], dtype=np.intp)), ValueError),
        ("order negative", dict(order=np.array([-1], dtype=np.intp)), ValueError),
        ("order int32", dict(order=order.astype(np.int32)), TypeError),
        ("unknown loss", dict(loss="hinge"), ValueError),
        ("single-output loss, c = 3", dict(W=Wc, b=bc), ValueError),
        ("labels out of range", dict(loss="softmax_cross_entropy", W=Wc, b=bc, y=yl + 1), ValueError),
        ("labels float", dict(loss="softmax_cross_entropy", W=Wc, b=bc, y=yl.astype(np.float64)), TypeError),
    ]


@pytest.mark.parametrize("name, change, error", _bad_cases(), ids=lambda v: v if isinstance(v, str) else "")
def test_bad_input_raises(name, change, error):
    args = {**_good(), **change}
    if name == "W read-only":
        args["W"].setflags(write=False)
        error = ValueError
    X, y, W, b, order, loss, sw = (args[k] for k in ("X", "y", "W", "b", "order", "loss", "sample_weight"))
    with pytest.raises(error):
        fast.sgd_epoch(X, y, W, b, order, loss, eta0=0.1, sample_weight=sw)
    if name != "W read-only" and not name.startswith("order"):
        with pytest.raises(error):
            fast.gradient(X, y, W, b, loss, 0.0, sw)


@pytest.mark.parametrize("kw", [dict(batch_size=0), dict(schedule="sometimes"),
                                dict(schedule="optimal"), dict(t=-1),
                                dict(W_avg=np.zeros((5, 1)))])
def test_bad_options_raise(kw):
    X, y, W, b, sw, order = make_problem("log_loss")
    with pytest.raises(ValueError):
        fast.sgd_epoch(X, y, W, b, order, "log_loss", eta0=0.1, **kw)


# -- the full-batch step of sgd_epoch ------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [1, 127, 131, 256, 257, 700])
@pytest.mark.parametrize("loss", LOSSES)
def test_full_batch_epoch_across_row_blocks(loss, n, dtype):
    """One batch of every row (batch_size >= n, the identity order): the
    step's gradient comes from the full-batch pass (the single-output float32
    lanes flushed every 128 rows, the multi-class 256-row BLAS blocks), and
    equals the reference's step, averages included."""
    X, y, W, b, sw, _ = make_problem(loss, dtype, n=n, m=21, c=10)
    order = np.arange(n, dtype=np.intp)
    for batch_size in {max(n, 2), n + 5}:
        fast_out, ref_out = run_both(X, y, W, b, order, loss, weighted_sw=sw, average=True,
                                     eta0=0.1, batch_size=batch_size, alpha=0.2, t=3,
                                     schedule="invscaling")
        assert fast_out[0][1] == 4
        assert_close(fast_out, ref_out, TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss", LOSSES)
def test_full_batch_epoch_is_one_gradient_step(loss, dtype):
    """sgd_epoch with one batch of every row is W ← W − η ∇J, b ← b − η ∇b,
    W̄ ← W̄ + (W − W̄) / t from ``gradient``'s ∇J (the step the estimators
    used to take themselves), and reports the data loss, J at α = 0; the
    order of a full batch does not matter (a shuffled one gives the same)."""
    X, y, W, b, sw, shuffled = make_problem(loss, dtype, n=300, m=13, c=4)
    eta, alpha, t0 = 0.3, 0.2, 5
    J0, gW, gb = fast.gradient(X, y, W, b, loss, alpha, sw)
    data_loss = fast.gradient(X, y, W, b, loss, 0.0, sw)[0]
    W_avg0, b_avg0 = (W + 0.1).astype(dtype), (b - 0.1).astype(dtype)
    W_want = W.astype(np.float64) - eta * gW
    b_want = b.astype(np.float64) - eta * gb
    Wa_want = W_avg0 + (W_want - W_avg0) / (t0 + 1)
    ba_want = b_avg0 + (b_want - b_avg0) / (t0 + 1)
    tol = 1e-14 if dtype == np.float64 else 1e-6
    for order in (np.arange(300, dtype=np.intp), shuffled):
        W_, b_, Wa, ba = W.copy(), b.copy(), W_avg0.copy(), b_avg0.copy()
        epoch_loss, t = fast.sgd_epoch(X, y, W_, b_, order, loss, eta0=eta, batch_size=300,
                                       alpha=alpha, t=t0, sample_weight=sw, W_avg=Wa, b_avg=ba)
        assert t == t0 + 1
        assert relative_error(epoch_loss, data_loss) <= 1e-14
        for got, want in ((W_, W_want), (b_, b_want), (Wa, Wa_want), (ba, ba_want)):
            assert got.dtype == dtype
            assert relative_error(got, want) <= tol


@pytest.mark.parametrize("loss", LOSSES)
def test_one_batch_over_an_order_with_repeats(loss):
    """batch_size >= len(order) over an order that is not every row once
    (repeats, gaps, fewer entries than rows): one step over exactly those
    entries, as the reference takes it."""
    X, y, W, b, sw, _ = make_problem(loss)
    for order in (np.array([3, 3, 0, 7, 39, 12, 7], dtype=np.intp),
                  np.r_[np.arange(39), 0].astype(np.intp)):
        fast_out, ref_out = run_both(X, y, W, b, order, loss, weighted_sw=sw, average=True,
                                     eta0=0.1, batch_size=1000, alpha=0.1, t=2)
        assert fast_out[0][1] == 3
        assert_close(fast_out, ref_out, 1e-10)
