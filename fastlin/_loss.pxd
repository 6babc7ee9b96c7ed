# Per-sample losses of the six linear models as inline functions of the score.
#
# The same formulas as fastlin/reference/losses.py, one sample at a time and
# in float64 whatever the data's dtype. Each function returns the loss l and
# writes its derivative ∂l/∂s. Everything is computed from the score, never
# from a clipped probability, so |s| up to 1e300 gives finite values.
#
# Every loss has its own branch; a kind without one (or a multi-class kind
# given to single_loss, a single-output one to multi_loss) gives NaN for the
# loss and the derivative, never another loss's formula. The def layers only
# pass kinds from the table of fastlin/_losses.py, which they check first.
#
# All helpers are `noexcept nogil`: they are called from inside the kernels'
# nogil loops, and a Cython 3 cdef function without `noexcept` would check
# for a Python exception after every call.
from libc.math cimport NAN, exp, fabs, log, log1p


cdef enum LossKind:
    # The ``kind`` codes of the rows of fastlin/_losses.py (the tests check
    # each row's code against its reference function through _py_loss).
    SQUARED_ERROR = 0
    LOGISTIC_SQUARED_ERROR = 1
    LOG_LOSS = 2
    PERCEPTRON = 3
    MULTICLASS_PERCEPTRON = 4
    SOFTMAX_CROSS_ENTROPY = 5


cdef inline double sigmoid(double s) noexcept nogil:
    # σ(s) = 1 / (1 + e^(-s)), evaluated with e^(-|s|) so it never overflows
    cdef double e = exp(-fabs(s))
    if s >= 0:
        return 1.0 / (1.0 + e)
    return e / (1.0 + e)


cdef inline double log1pexp(double s) noexcept nogil:
    # log(1 + e^s) = max(s, 0) + log(1 + e^(-|s|))
    return (s if s > 0 else 0.0) + log1p(exp(-fabs(s)))


cdef inline double single_loss(LossKind kind, double s, double y,
                               double* dl) noexcept nogil:
    """Loss of one sample of a single-output model; writes ∂l/∂s to dl[0]."""
    cdef double r, h, h_1mh, e, inv
    if kind == SQUARED_ERROR:
        # l = ½ (s − y)²,  ∂l/∂s = s − y
        r = s - y
        dl[0] = r
        return 0.5 * r * r
    elif kind == LOGISTIC_SQUARED_ERROR:
        # h = σ(s), l = ½ (h − y)²,  ∂l/∂s = (h − y) h (1 − h), h (1 − h) = σ(s) σ(−s)
        # (σ(s) and σ(−s) from one e^(−|s|), as sigmoid() computes each)
        e = exp(-fabs(s))
        inv = 1.0 / (1.0 + e)
        h = inv if s >= 0 else e * inv
        h_1mh = h * (inv if -s >= 0 else e * inv)
        r = h - y
        dl[0] = r * h_1mh
        return 0.5 * r * r
    elif kind == LOG_LOSS:
        # l = log(1 + e^s) − y s,  ∂l/∂s = σ(s) − y
        # (σ(s) and log(1 + e^s) from one e^(−|s|), as sigmoid() and log1pexp() do)
        e = exp(-fabs(s))
        dl[0] = (1.0 / (1.0 + e) if s >= 0 else e / (1.0 + e)) - y
        return ((s if s > 0 else 0.0) + log1p(e)) - y * s
    elif kind == PERCEPTRON:
        # h = [s >= 0] (a score of exactly 0 predicts 1), l = (h − y) s,  ∂l/∂s = h − y
        h = 1.0 if s >= 0 else 0.0
        dl[0] = h - y
        return (h - y) * s
    # not a single-output loss
    dl[0] = NAN
    return NAN


cdef inline double multi_loss(LossKind kind, const double* s, Py_ssize_t c,
                              Py_ssize_t y, double* d) noexcept nogil:
    """Loss of one sample of a multi-class model from its score vector s (c,);
    writes ∂l/∂s (c,) to d. y is the label, 0 <= y < c."""
    cdef Py_ssize_t j, y_hat = 0
    cdef double smax = s[0], total = 0.0, inv
    # y_hat = argmax_j s_j (lowest index on ties), smax = s[y_hat]
    for j in range(1, c):
        if s[j] > smax:
            smax = s[j]
            y_hat = j
    if kind == MULTICLASS_PERCEPTRON:
        # l = s_ŷ − s_y,  ∂l/∂s_v = [v = ŷ] − [v = y]
        for j in range(c):
            d[j] = 0.0
        d[y_hat] += 1.0
        d[y] -= 1.0
        return smax - s[y]
    elif kind == SOFTMAX_CROSS_ENTROPY:
        # l = log Σ_k e^(s_k) − s_y,  ∂l/∂s = softmax(s) − onehot(y),
        # with the max subtracted before exponentiating (log-sum-exp), and
        # l = log Σ_k e^(s_k − s_max) + (s_max − s_y) so the O(1) term survives
        # when every score is huge
        for j in range(c):
            d[j] = exp(s[j] - smax)
            total += d[j]
        inv = 1.0 / total
        for j in range(c):
            d[j] *= inv
        d[y] -= 1.0
        return log(total) + (smax - s[y])
    # not a multi-class loss
    for j in range(c):
        d[j] = NAN
    return NAN
