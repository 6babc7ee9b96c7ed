"""The small numerical helpers the estimators need at run time.

The NumPy reference (``fastlin.reference``) and the estimators both import
them from here, so the reference stays an oracle that nothing in a fit or a
prediction depends on, and each helper exists once.

    sigmoid(s)                      σ(s) = 1 / (1 + e^(−s)), never overflows
    softmax(S)                      row-wise softmax, max subtracted
    learning_rate(schedule, η₀, t)  η_t of a learning-rate schedule
    init_network_params(...)        the network's initial [W, b1, V, b2]

``SCHEDULES`` names the learning-rate schedules, ``INT_MAX`` is the largest
dimension a BLAS call takes (a C int).
"""
import numpy as np

#: the learning-rate schedules every backend implements
SCHEDULES = ("constant", "invscaling")

#: BLAS dimensions and leading dimensions are C ints
INT_MAX = 2**31 - 1


def sigmoid(s):
    """σ(s) = 1 / (1 + e^(-s)), evaluated with e^(-|s|) so it never overflows."""
    e = np.exp(-np.abs(s))
    return np.where(s >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softmax(S):
    """Row-wise softmax with the row max subtracted (log-sum-exp trick)."""
    E = np.exp(S - S.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def learning_rate(schedule, eta0, t, power_t=0.5):
    """η_t: η₀ for "constant", η₀ / t^power_t for "invscaling" (t >= 1)."""
    if schedule == "constant":
        return eta0
    if schedule == "invscaling":
        return eta0 / t ** power_t
    raise ValueError(f"unknown learning-rate schedule {schedule!r}; expected one of {SCHEDULES}")


def init_network_params(n_features, hidden_size, n_classes, random_state=None,
                        dtype=np.float64):
    """[W, b1, V, b2]: Glorot-uniform weights scaled for sigmoid units, zero biases.

    W_jk ~ U(−r, r) with r = 4 √(6 / (fan_in + fan_out)) (Glorot & Bengio 2010,
    their factor 4 for the logistic sigmoid), the same for V; b1 = 0, b2 = 0.
    ``random_state`` is an int, None or a ``numpy.random.Generator``. The draws
    are made in float64 and then cast, so float32 and float64 start alike.
    """
    rng = np.random.default_rng(random_state)
    r1 = 4.0 * np.sqrt(6.0 / (n_features + hidden_size))
    r2 = 4.0 * np.sqrt(6.0 / (hidden_size + n_classes))
    W = rng.uniform(-r1, r1, size=(n_features, hidden_size)).astype(dtype)
    V = rng.uniform(-r2, r2, size=(hidden_size, n_classes)).astype(dtype)
    b1 = np.zeros(hidden_size, dtype=dtype)
    b2 = np.zeros(n_classes, dtype=dtype)
    return [W, b1, V, b2]
