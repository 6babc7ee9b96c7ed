"""The small numerical helpers the estimators need at run time.

The NumPy reference (``fastlin.reference``) and the estimators both import
them from here, so the reference stays an oracle that nothing in a fit or a
prediction depends on, and each helper exists once.

    sigmoid(s)                      σ(s) = 1 / (1 + e^(−s)), never overflows
    softmax(S)                      row-wise softmax, max subtracted; its limit at ±inf
    affine_scores(X, W, b)          X W + b, never NaN from an overflowing product
    margin(S)                       s₁ − s₀ of two-column scores, 0 on a tie (±inf too)
    log_sigmoid(s)                  log σ(s) = −log(1 + e^(−s)), exact at ±inf
    log_softmax(S)                  row-wise log-softmax, exact at ±inf
    learning_rate(schedule, η₀, t)  η_t of a learning-rate schedule
    clipped_alpha(α, η)             min(α, 1/η): the L2 step never overshoots 0
    optimal_t0(α)                   t₀ of the "optimal" schedule
    init_network_params(...)        the network's initial [W, b1, V, b2]

``SCHEDULES`` names the learning-rate schedules, ``INT_MAX`` is the largest
dimension a BLAS call takes (a C int).
"""
import numpy as np

#: the learning-rate schedules every backend implements. Within an epoch
#: "adaptive" is "constant": the estimators divide its η₀ between epochs.
SCHEDULES = ("constant", "invscaling", "optimal", "adaptive")

#: BLAS dimensions and leading dimensions are C ints
INT_MAX = 2**31 - 1


def sigmoid(s):
    """σ(s) = 1 / (1 + e^(-s)), evaluated with e^(-|s|) so it never overflows
    (σ(+inf) = 1, σ(−inf) = 0)."""
    e = np.exp(-np.abs(s))
    return np.where(s >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softmax(S):
    """Row-wise softmax with the row max subtracted (log-sum-exp trick).

    Scores of ±inf give the softmax's limit: in a row whose maximum is
    infinite the maximal classes share 1 equally and the others get 0 (a
    row of −inf only is uniform), never NaN from inf − inf.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        S_max = S.max(axis=1, keepdims=True)
        shifted = S - S_max
    shifted[S == S_max] = 0          # the row's maxima, also where S_max is ±inf
    E = np.exp(shifted)
    return E / E.sum(axis=1, keepdims=True)


def affine_scores(X, W, b):
    """S = X W + b (n, c) for prediction, whose rows never turn NaN.

    One product and a finiteness check in the common case. A row with a
    non-finite score (terms of +inf and −inf make NaN, or through fused
    multiply-adds an infinity of either sign; partial sums may overflow
    though the score does not) is computed again from X_i 2^(−e_i), W 2^(−f)
    and b 2^(−e_i−f), the powers of two making every entry of X_i and W less
    than 1 in magnitude, and scaled back by 2^(e_i+f). Its scores are then
    the exact ones to the rounding of a sum of such terms: ±inf, with the
    exact score's sign, where that is beyond the dtype's range. X, W and b
    must be finite.
    """
    with np.errstate(over="ignore", invalid="ignore"):    # settled below
        S = X @ W + b
    if np.isfinite(S).all():
        return S
    rows = np.flatnonzero(~np.isfinite(S).all(axis=1))
    X_rows = X[rows]
    f = np.frexp(np.abs(W).max())[1]                           # |W| < 2^f
    if hasattr(X_rows, "tocsr"):
        # a scipy.sparse X (CSR): the same on the nonzeros of the rows
        X_rows = X_rows.tocsr()
        lengths = np.diff(X_rows.indptr)
        row_max = np.zeros(len(rows), dtype=X_rows.dtype)
        full = lengths > 0
        if full.any():
            row_max[full] = np.maximum.reduceat(np.abs(X_rows.data),
                                                X_rows.indptr[:-1][full])
        e = np.frexp(row_max)[1]                               # |X_i| < 2^e_i
        with np.errstate(over="ignore", under="ignore"):
            X_scaled = X_rows.copy()
            X_scaled.data = np.ldexp(X_rows.data, -np.repeat(e, lengths))
    else:
        e = np.frexp(np.abs(X_rows).max(axis=1))[1]            # |X_i| < 2^e_i
        with np.errstate(over="ignore", under="ignore"):
            X_scaled = np.ldexp(X_rows, -e[:, None])
    k = (e + f)[:, None]
    with np.errstate(over="ignore", under="ignore"):
        S_scaled = X_scaled @ np.ldexp(W, -f) + np.ldexp(b, -k)
        S[rows] = np.ldexp(S_scaled, k)
    return S


def margin(S):
    """s₁ − s₀ of two-column scores S (n, 2), 0 where the two are equal
    (inf − inf included): > 0 exactly where column 1 wins."""
    with np.errstate(over="ignore", invalid="ignore"):
        d = S[:, 1] - S[:, 0]
    d[S[:, 1] == S[:, 0]] = 0
    return d


def log_sigmoid(s):
    """log σ(s) = −log(1 + e^(−s)), through ``logaddexp``: never the log of
    a rounded 0, −inf at s = −inf and 0 at s = +inf."""
    s = np.asarray(s)
    return -np.logaddexp(0, -s)


def log_softmax(S):
    """Row-wise log softmax(S) = S − max − log Σ e^(S − max).

    Rows holding ±inf take the limit: with a +inf entry the +inf entries
    share the probability (log 1/k each, −inf for the others); a row of
    only −inf entries is uniform (log 1/c), as for equal finite scores.
    """
    S = np.asarray(S)
    M = S.max(axis=1, keepdims=True)
    infinite = np.isinf(M)
    Z = S - np.where(infinite, 0, M)
    if infinite.any():
        Z = np.where(infinite, 0, Z)
    out = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
    if infinite.any():
        tie = S == M
        share = -np.log(tie.sum(axis=1, keepdims=True))
        out = np.where(infinite, np.where(tie, share, -np.inf), out)
    return out.astype(S.dtype, copy=False) if S.dtype.kind == "f" else out


def optimal_t0(alpha):
    """t₀ = α^(−3/4) of the "optimal" schedule: the first step takes
    η₁ = 1 / (α t₀) = α^(−1/4), the initial step of scikit-learn's
    SGDClassifier/SGDRegressor heuristic."""
    return alpha ** -0.75


def learning_rate(schedule, eta0, t, power_t=0.5, alpha=0.0):
    """η_t (t >= 1 the step count):

    * "constant" and "adaptive": η₀ ("adaptive" changes η₀ between epochs,
      in the estimator);
    * "invscaling": η₀ / t^power_t;
    * "optimal": 1 / (α (t₀ + t − 1)) with t₀ = ``optimal_t0(α)`` (Bottou's
      schedule, η₀ unused); needs α > 0.
    """
    if schedule in ("constant", "adaptive"):
        return eta0
    if schedule == "invscaling":
        return eta0 / t ** power_t
    if schedule == "optimal":
        if not alpha > 0:
            raise ValueError(f'the "optimal" learning-rate schedule needs alpha > 0, got {alpha!r}')
        return 1.0 / (alpha * (optimal_t0(alpha) + t - 1))
    raise ValueError(f"unknown learning-rate schedule {schedule!r}; expected one of {SCHEDULES}")


def clipped_alpha(alpha, eta):
    """α′ = min(α, 1/η), the L2 strength a step of size η applies: the
    penalty's part of the step, θ ← θ − η α′ θ = max(0, 1 − ηα) θ, shrinks θ
    toward 0 and never past it (with α itself, ηα > 2 would overshoot and
    diverge). α whenever ηα <= 1."""
    return alpha if alpha * eta <= 1.0 else 1.0 / eta


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


def check_linear_epoch_arguments(batch_size, schedule, t, W_avg, b_avg):
    """The step arguments of a linear kernel's ``sgd_epoch`` (dense and CSR
    alike): a ValueError naming the first that is wrong."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown learning-rate schedule {schedule!r}; expected one of {SCHEDULES}")
    if t < 0:
        raise ValueError(f"t must be >= 0, got {t}")
    if (W_avg is None) != (b_avg is None):
        raise ValueError("pass both W_avg and b_avg, or neither")
