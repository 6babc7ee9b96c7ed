"""The losses, one sample at a time, in both backends: the NumPy reference's
functions (fastlin.reference.losses) and the kernel's own inline functions
(fastlin/_loss.pxd, reached through ``_linear_fast._py_loss``), against a
table of values derived by hand from docs/math.md and against central finite
differences; and the one table of losses (fastlin._losses) every layer reads.
"""
import numpy as np
import pytest

from fastlin import LogisticRegression, _linear_fast, _losses
from fastlin import linear_model
from fastlin.reference import losses

py_loss = _linear_fast._py_loss


def kernel_loss(name, s, y):
    """(l, dl) of one sample from the kernel, with the code of the row ``name``."""
    return py_loss(_losses.get(name).kind, s, y)


# -- the table of losses -----------------------------------------------------

def test_registry_rows_are_consistent():
    kinds = [row.kind for row in _losses.LOSSES.values()]
    assert sorted(kinds) == list(range(len(kinds)))            # one code each
    for name, row in _losses.LOSSES.items():
        assert row.name == name
        assert callable(getattr(losses, row.reference))
        assert losses.get_loss(name) is getattr(losses, row.reference)
        assert losses.is_multiclass(name) is row.multiclass
        assert hasattr(linear_model, row.estimator)
    assert set(_losses.SINGLE_OUTPUT) | set(_losses.MULTI_OUTPUT) == set(_losses.LOSSES)
    assert set(losses.LOSSES) == set(_losses.LOSSES)


def test_estimators_take_their_losses_from_the_table():
    for name, row in _losses.LOSSES.items():
        cls = getattr(linear_model, row.estimator)
        if row.option is None:
            assert cls._loss == name
        else:
            assert cls(loss=row.option)._loss == name
    assert set(LogisticRegression._LOSSES) == {"log_loss", "squared_error"}


@pytest.mark.parametrize("bad", ["softmax", "hinge", None, 3, ["log_loss"]])
def test_unknown_loss_names_the_choices(bad):
    with pytest.raises(ValueError, match="unknown loss.*expected one of"):
        _losses.get(bad)
    with pytest.raises(ValueError, match="unknown loss"):
        losses.get_loss(bad)


# -- per-loss tables written from docs/math.md ------------------------------
# (score, label, loss, dloss) with the expected values derived by hand.

e = np.e
_sig1 = 1 / (1 + e ** -1)          # σ(1)
_sig2 = 1 / (1 + e ** -2)          # σ(2)

SINGLE_TABLE = {
    # §1  l = ½ (s − y)²,  l' = s − y.  |s| = 1e300 is excluded: s² = 1e600
    # does not exist in float64, so the loss overflows by its nature.
    "squared_error": [
        (0.0, 0.0, 0.0, 0.0),
        (1.0, 0.0, 0.5, 1.0),
        (-1.0, 1.0, 2.0, -2.0),
        (2.0, 0.5, 1.125, 1.5),
        (1e4, 0.0, 5e7, 1e4),
        (-1e4, 1.0, 0.5 * 10001.0 ** 2, -10001.0),
    ],
    # §2  h = σ(s),  l = ½ (h − y)²,  l' = (h − y) h (1 − h)
    "logistic_squared_error": [
        (0.0, 0.0, 0.125, 0.125),
        (0.0, 1.0, 0.125, -0.125),
        (2.0, 1.0, 0.5 * (1 - _sig2) ** 2, -(1 - _sig2) ** 2 * _sig2),
        (-1.0, 0.0, 0.5 * (1 - _sig1) ** 2, (1 - _sig1) ** 2 * _sig1),
        (1e4, 1.0, 0.0, 0.0),
        (1e4, 0.0, 0.5, 0.0),          # h(1 − h) = e^-1e4 underflows: the loss is flat
        (-1e4, 1.0, 0.5, 0.0),
        (1e300, 0.0, 0.5, 0.0),
        (-1e300, 1.0, 0.5, 0.0),
        (-1e300, 0.0, 0.0, 0.0),
    ],
    # §3  l = log(1 + e^s) − y s,  l' = σ(s) − y
    "log_loss": [
        (0.0, 0.0, np.log(2), 0.5),
        (0.0, 1.0, np.log(2), -0.5),
        (1.0, 1.0, np.log(1 + e ** -1), _sig1 - 1),
        (-1.0, 1.0, np.log(1 + e), -_sig1),       # σ(−1) − 1 = −σ(1)
        (2.0, 0.0, np.log(1 + e ** 2), _sig2),
        (1e4, 0.0, 1e4, 1.0),
        (1e4, 1.0, 0.0, 0.0),
        (-1e4, 0.0, 0.0, 0.0),
        (-1e4, 1.0, 1e4, -1.0),
        (1e300, 0.0, 1e300, 1.0),
        (1e300, 1.0, 0.0, 0.0),
        (-1e300, 1.0, 1e300, -1.0),
        (-1e300, 0.0, 0.0, 0.0),
    ],
    # §4  h = [s >= 0],  l = (h − y) s,  l' = h − y
    "perceptron": [
        (0.0, 0.0, 0.0, 1.0),          # a score of 0 predicts 1: a mistake for y = 0
        (0.0, 1.0, 0.0, 0.0),
        (1.0, 1.0, 0.0, 0.0),
        (1.0, 0.0, 1.0, 1.0),
        (-2.0, 1.0, 2.0, -1.0),
        (-2.0, 0.0, 0.0, 0.0),
        (1e4, 1.0, 0.0, 0.0),
        (1e300, 0.0, 1e300, 1.0),
        (-1e300, 1.0, 1e300, -1.0),
        (-1e300, 0.0, 0.0, 0.0),
    ],
}

MULTI_TABLE = {
    # §5  ŷ = argmax s (lowest index on ties),  l = s_ŷ − s_y,  l'_v = [v = ŷ] − [v = y]
    "multiclass_perceptron": [
        ([0.0, 0.0, 0.0], 0, 0.0, [0, 0, 0]),
        ([0.0, 0.0, 0.0], 2, 0.0, [1, 0, -1]),     # tie → ŷ = 0, a mistake
        ([1.0, 2.0, -1.0], 1, 0.0, [0, 0, 0]),
        ([1.0, 2.0, -1.0], 0, 1.0, [-1, 1, 0]),
        ([1e4, -1e4, 0.0], 1, 2e4, [1, -1, 0]),
        ([1e300, -1e300, 0.0], 1, 2e300, [1, -1, 0]),
        ([-1e300, 1e300, 0.0], 2, 1e300, [0, 1, -1]),
        ([5.0], 0, 0.0, [0]),                       # one class: never a mistake
    ],
    # §6  l = log Σ_k e^(s_k) − s_y,  l' = softmax(s) − onehot(y)
    "softmax_cross_entropy": [
        ([0.0, 0.0, 0.0], 0, np.log(3), [-2 / 3, 1 / 3, 1 / 3]),
        ([2.0, 0.0, 0.0], 0, np.log(1 + 2 * e ** -2),
         [e ** 2 / (e ** 2 + 2) - 1, 1 / (e ** 2 + 2), 1 / (e ** 2 + 2)]),
        ([2.0, 0.0, 0.0], 1, np.log(e ** 2 + 2), [e ** 2 / (e ** 2 + 2), 1 / (e ** 2 + 2) - 1, 1 / (e ** 2 + 2)]),
        ([1e4, 0.0, -1e4], 0, 0.0, [0, 0, 0]),
        ([1e4, 0.0, -1e4], 2, 2e4, [1, 0, -1]),
        ([1e300, -1e300, 0.0], 1, 2e300, [1, -1, 0]),
        ([-1e300, 0.0, 1e300], 2, 0.0, [0, 0, 0]),
        ([-1e300, -1e300], 1, np.log(2), [0.5, -0.5]),   # the O(1) term survives
        ([5.0], 0, 0.0, [0]),
    ],
}


def _table_params():
    for name, rows in SINGLE_TABLE.items():
        for s, y, l, dl in rows:
            yield pytest.param(name, s, y, l, dl, id=f"{name}-s={s:g}-y={y:g}")
    for name, rows in MULTI_TABLE.items():
        for s, y, l, dl in rows:
            yield pytest.param(name, s, y, l, dl, id=f"{name}-s={s}-y={y}")


TABLE = list(_table_params())


def test_table_covers_every_loss():
    assert set(SINGLE_TABLE) == set(_losses.SINGLE_OUTPUT)
    assert set(MULTI_TABLE) == set(_losses.MULTI_OUTPUT)


@pytest.mark.parametrize("name, s, y, l_expected, dl_expected", TABLE)
def test_kernel_loss_table(name, s, y, l_expected, dl_expected):
    l, dl = kernel_loss(name, s, y)
    assert np.isfinite(l) and np.all(np.isfinite(dl))
    assert np.shape(dl) == np.shape(s)
    np.testing.assert_allclose(l, l_expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dl, dl_expected, rtol=1e-12, atol=1e-15)


def _reference(name, s, y, dtype):
    """The reference's (l, dl) of one sample, as a batch of one row."""
    multi = _losses.get(name).multiclass
    S = np.array([s] if multi else [[s]], dtype=dtype)
    y = np.array([y], dtype=np.intp if multi else dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        l, dl = losses.get_loss(name)(S, y)
    assert l.shape == (1,) and dl.shape == S.shape
    return l[0], (dl[0] if multi else dl[0, 0])


@pytest.mark.parametrize("name, s, y, l_expected, dl_expected", TABLE)
def test_reference_loss_table(name, s, y, l_expected, dl_expected):
    l, dl = _reference(name, s, y, np.float64)
    assert np.isfinite(l) and np.all(np.isfinite(dl))
    np.testing.assert_allclose(l, l_expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dl, dl_expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name, s, y, l_expected, dl_expected",
                         [p for p in TABLE if np.abs(p.values[1]).max() <= 1e4])
def test_reference_loss_table_float32(name, s, y, l_expected, dl_expected):
    """The same cases in float32 (|s| <= 1e4: 1e300 does not exist in float32)."""
    l, dl = _reference(name, s, y, np.float32)
    assert np.isfinite(l) and np.all(np.isfinite(dl))
    np.testing.assert_allclose(l, l_expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dl, dl_expected, rtol=1e-5, atol=1e-6)


def test_squared_error_overflows_by_nature_at_1e300():
    """The one exclusion from the table: ½ s² at s = 1e300 is 5e599."""
    with np.errstate(over="raise"), pytest.raises(FloatingPointError):
        losses.squared_error(np.array([[1e300]]), np.array([0.0]))
    assert kernel_loss("squared_error", 1e300, 0.0) == (np.inf, 1e300)


# -- derivatives against central finite differences --------------------------

def _draws(name, rng, count=20):
    """(s, y) pairs of moderate scores, away from the perceptrons' kinks."""
    multi = _losses.get(name).multiclass
    out = []
    while len(out) < count:
        if multi:
            s = rng.normal(scale=3.0, size=4)
            top2 = np.sort(s)[-2:]
            if top2[1] - top2[0] < 1e-3:
                continue
            out.append((s, int(rng.integers(0, 4))))
        else:
            s = float(rng.normal(scale=3.0))
            if abs(s) < 1e-3:
                continue
            y = float(rng.normal()) if name == "squared_error" else float(rng.integers(0, 2))
            out.append((s, y))
    return out


@pytest.mark.parametrize("name", list(_losses.LOSSES))
def test_derivative_matches_finite_differences(name, rng):
    eps = 1e-6
    for s, y in _draws(name, rng):
        l, dl = kernel_loss(name, s, y)
        ref_l, ref_dl = _reference(name, s, y, np.float64)
        np.testing.assert_allclose(l, ref_l, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(dl, ref_dl, rtol=1e-13, atol=1e-15)
        s_vec = np.atleast_1d(np.array(s, dtype=np.float64))
        fd = np.empty_like(s_vec)
        for k in range(s_vec.size):
            up, down = s_vec.copy(), s_vec.copy()
            up[k] += eps
            down[k] -= eps
            if np.ndim(s) == 0:
                up, down = up[0], down[0]
            fd[k] = (kernel_loss(name, up, y)[0] - kernel_loss(name, down, y)[0]) / (2 * eps)
        np.testing.assert_allclose(np.atleast_1d(dl), fd, rtol=1e-6, atol=1e-8)


# -- no fallthrough: a kind without a branch is NaN, never another loss ------

def test_kind_without_a_branch_gives_nan():
    unknown = max(row.kind for row in _losses.LOSSES.values()) + 1
    for kind in (unknown, -1, 1000):
        l, dl = py_loss(kind, 0.5, 1.0)
        assert np.isnan(l) and np.isnan(dl)
        l, d = py_loss(kind, [0.5, -1.0, 2.0], 1)
        assert np.isnan(l) and np.isnan(d).all()
    # a multi-class kind asked for a single output, and the other way round
    for name in _losses.MULTI_OUTPUT:
        l, dl = py_loss(_losses.get(name).kind, 0.5, 1.0)
        assert np.isnan(l) and np.isnan(dl)
    for name in _losses.SINGLE_OUTPUT:
        l, d = py_loss(_losses.get(name).kind, [0.5, -1.0], 0)
        assert np.isnan(l) and np.isnan(d).all()


@pytest.mark.parametrize("s, y, error", [([], 0, ValueError), ([[1.0, 2.0]], 0, ValueError),
                                         ([1.0, 2.0], 2, ValueError), ([1.0, 2.0], -1, ValueError),
                                         ([1.0, 2.0], 1.0, TypeError)])
def test_py_loss_checks_its_multiclass_input(s, y, error):
    with pytest.raises(error):
        kernel_loss("softmax_cross_entropy", s, y)
