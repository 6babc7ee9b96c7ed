"""Per-sample losses of the six linear models, as functions of the score.

A model scores a sample as ``s = x W + b`` (``W`` is (m, c), ``b`` is (c,)).
Each loss here takes the scores ``S`` (n, c) and the targets ``y`` and returns

    l   (n,)    the loss of each sample,
    D   (n, c)  its derivative with respect to the score, D = ∂l/∂S.

Single-output models (regression, the two logistic models, the perceptron)
have c = 1 and real targets y (n,) (0/1 for the classifiers); multi-class
models have c >= 2 and integer labels y (n,) in 0..c-1.

Everything is computed from the score, never from a clipped probability, so
that |s| up to 1e300 gives finite values and no overflow warning (squared
error excepted: its value is s², which overflows for |s| > 1e154 by nature).
l and D are float64 whatever the scores' dtype, as in the kernels (a float32
model's ½ r² would overflow already at |r| > 1.8e19).
Section numbers (§1-§6) refer to docs/math.md, which derives each loss.
"""
import numpy as np

from .. import _losses
from .._numeric import sigmoid, softmax  # noqa: F401 (part of this module's vocabulary)


def log1pexp(s):
    """log(1 + e^s), stable for both signs: max(s, 0) + log(1 + e^(-|s|))."""
    return np.maximum(s, 0) + np.log1p(np.exp(-np.abs(s)))


def squared_error(S, y):
    """§1 linear regression: l = ½ (s − y)²,  ∂l/∂s = s − y."""
    s = S[:, 0].astype(np.float64)
    r = s - y
    return 0.5 * r * r, r[:, None]


def logistic_squared_error(S, y):
    """§2 logistic regression, squared loss: h = σ(s), l = ½ (h − y)²,
    ∂l/∂s = (h − y) h (1 − h)."""
    s = S[:, 0].astype(np.float64)
    h = sigmoid(s)
    h_1mh = h * sigmoid(-s)                   # h (1 − h) = σ(s) σ(−s), no cancellation
    return 0.5 * (h - y) ** 2, ((h - y) * h_1mh)[:, None]


def log_loss(S, y):
    """§3 logistic regression, cross-entropy:
    l = −[y log σ(s) + (1 − y) log(1 − σ(s))] = log(1 + e^s) − y s,
    ∂l/∂s = σ(s) − y."""
    s = S[:, 0].astype(np.float64)
    return log1pexp(s) - y * s, (sigmoid(s) - y)[:, None]


def perceptron(S, y):
    """§4 perceptron: h = [s >= 0] (a score of exactly 0 predicts 1),
    l = (h − y) s >= 0, ∂l/∂s = h − y (non-zero only on a mistake)."""
    s = S[:, 0].astype(np.float64)
    h = (s >= 0).astype(np.float64)
    return (h - y) * s, (h - y)[:, None]


def multiclass_perceptron(S, y):
    """§5 multi-class perceptron: ŷ = argmax_j s_j (lowest index on ties),
    l = s_ŷ − s_y >= 0, ∂l/∂s_v = [v = ŷ] − [v = y]."""
    S = S.astype(np.float64)
    rows = np.arange(S.shape[0])
    y_hat = S.argmax(axis=1)
    D = np.zeros_like(S)
    D[rows, y_hat] += 1
    D[rows, y] -= 1
    return S[rows, y_hat] - S[rows, y], D


def softmax_cross_entropy(S, y):
    """§6 softmax regression: l = log Σ_k e^(s_k) − s_y,
    ∂l/∂s = softmax(s) − onehot(y).

    The loss is evaluated as log Σ_k e^(s_k − s_max) + (s_max − s_y), so the
    O(1) term survives even when every score is huge (e.g. all −1e300).
    """
    S = S.astype(np.float64)
    rows = np.arange(S.shape[0])
    s_max = S.max(axis=1)
    D = softmax(S)
    D[rows, y] -= 1
    return np.log(np.exp(S - s_max[:, None]).sum(axis=1)) + (s_max - S[rows, y]), D


#: loss name -> (function, multi-class?), from the table of fastlin._losses
LOSSES = {name: (globals()[row.reference], row.multiclass)
          for name, row in _losses.LOSSES.items()}


def get_loss(name):
    """The loss function called ``name`` (a key of ``LOSSES``)."""
    return LOSSES[_losses.get(name).name][0]


def is_multiclass(name):
    """True when the loss ``name`` takes integer labels and c >= 2 outputs."""
    return _losses.get(name).multiclass
