"""The six linear models in pure NumPy: objective, gradient, training loops.

Conventions (the Cython kernels follow them exactly):

* Parameters: ``W`` (m, c) and ``b`` (c,), updated in place. c = 1 for the
  single-output models (W is an (m, 1) column), c = number of classes
  for the multi-class perceptron and softmax regression.
* Scores: S = X W + b, (n, c).
* Objective, a **mean** over samples so a learning rate does not depend on n:

      J(W, b) = (1/n) Σ_i w_i l(s_i, y_i) + (α/2) ||W||²

  with sample weights w_i (1 when not given) and the intercept unpenalised.
* A step on a batch B (a single sample when the batch size is 1) descends the
  same objective restricted to B:

      W ← W − η_t [ (1/|B|) Σ_{i∈B} w_i x_iᵀ ∂l/∂s_i + α′ W ]
      b ← b − η_t   (1/|B|) Σ_{i∈B} w_i ∂l/∂s_i          (if fit_intercept)

  with α′ = min(α, 1/η_t) (``clipped_alpha``): the L2 factor 1 − η_t α′ =
  max(0, 1 − η_t α) shrinks W toward 0 and never past it. A per-sample
  epoch is the minibatch epoch with batch size 1, and the perceptron's step
  is the classic θ ← θ − η (h_i − y_i) x_i.
* t counts steps over the whole fit (1 for the first); the step size is
  η_t = ``learning_rate(schedule, η₀, t, power_t, α)``: η₀ ("constant",
  "adaptive"), η₀ / t^power_t ("invscaling") or 1 / (α (t₀ + t − 1))
  ("optimal").
* Averaging: after step t, W̄ ← W̄ + (W − W̄) / t (and the same for b), so W̄
  is the mean of the weights after every step so far.
* The loss an epoch reports is (1/n) Σ_i w_i l(s_i, y_i) with each s_i taken
  just before the step that uses sample i.
* The losses, their derivatives, the sums of them and (α/2)||W||² are float64
  whatever X's dtype, as in the kernels; a float32 model's scores and weights
  are float32.
* Standardization: ``mean`` μ and ``scale`` σ (float64 (m,), None meaning 0
  and 1) make every function above work on the rows z_i = (x_i − μ) / σ
  without forming them, W and b the parameters of that space:

      S    = Z W + b = X (W / σ) + (b − (μ / σ) · W)
      Zᵀ D = (Xᵀ D − μ ⊗ Σ_i D_i) / σ
"""
import numpy as np

from .._numeric import SCHEDULES, clipped_alpha, learning_rate  # noqa: F401
from .._parallel import check_n_threads
from .losses import get_loss

def scores(X, W, b, mean=None, scale=None):
    """S = X W + b; with μ, σ: S = Z W + b = X (W / σ) + (b − (μ / σ) · W)."""
    if mean is None and scale is None:
        return X @ W + b
    W_raw, b_raw = raw_space(W, b, mean, scale)
    return X @ W_raw + b_raw


def raw_space(W, b, mean=None, scale=None):
    """The standardized model (W, b) as a model of the raw rows, float64:
    W / σ and b − (μ / σ) · W, so that x (W / σ) + b − (μ / σ) · W = z W + b."""
    W_raw = np.asarray(W, dtype=np.float64)
    if scale is not None:
        W_raw = W_raw / scale[:, None]
    b_raw = np.asarray(b, dtype=np.float64)
    if mean is not None:
        b_raw = b_raw - mean @ W_raw
    return W_raw, b_raw


def _z_transpose(X, D, mean, scale):
    """Zᵀ D = (Xᵀ D − μ ⊗ Σ_i D_i) / σ (Xᵀ D when neither is given)."""
    G = X.T @ D
    if mean is not None:
        G = G - np.outer(mean, D.sum(axis=0))
    if scale is not None:
        G = G / scale[:, None]
    return G


def penalty(W, alpha):
    """(α/2) ||W||² in float64, exactly 0 when α = 0 (weights whose squares
    overflow, |W| > ~1e154, must not turn 0 · inf into NaN)."""
    return 0.5 * alpha * np.square(W, dtype=np.float64).sum() if alpha != 0 else 0.0


def objective(X, y, W, b, loss, alpha=0.0, sample_weight=None, *, mean=None, scale=None):
    """J = (1/n) Σ_i w_i l(x_i W + b, y_i) + (α/2) ||W||² (z_i for x_i with μ, σ)."""
    l, _ = get_loss(loss)(scores(X, W, b, mean, scale), y)
    w = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    return (w * l).sum() / X.shape[0] + penalty(W, alpha)


def gradient(X, y, W, b, loss, alpha=0.0, sample_weight=None, *, mean=None, scale=None,
             n_threads=1):
    """The full-batch objective and its gradient.

    D  = w ⊙ ∂l/∂S / n                      (n, c)
    ∇W = Xᵀ D + α W                        (m, c)   (Zᵀ D + α W with μ, σ)
    ∇b = Σ_i D_i                           (c,)

    Returns ``(J, grad_W, grad_b)``. ``n_threads`` (an int >= 1, the
    kernels' thread count) is checked and not used.
    """
    check_n_threads(n_threads)
    data_loss, grad_W, grad_b = _data_loss_and_gradient(X, y, W, b, loss, alpha, sample_weight,
                                                        mean, scale)
    return data_loss + penalty(W, alpha), grad_W, grad_b


def _data_loss_and_gradient(X, y, W, b, loss, alpha, sample_weight, mean=None, scale=None):
    """``gradient`` with the loss term (1/n) Σ_i w_i l_i alone in place of J
    (the epoch loss needs it without the penalty, and subtracting the
    penalty again would cancel digits when the weights are large)."""
    n = X.shape[0]
    w = np.ones(n) if sample_weight is None else sample_weight
    l, dS = get_loss(loss)(scores(X, W, b, mean, scale), y)
    D = w[:, None] * dS / n
    data_loss = (w * l).sum() / n
    grad_W = _z_transpose(X, D, mean, scale) + alpha * W
    grad_b = D.sum(axis=0)
    return data_loss, grad_W.astype(W.dtype, copy=False), grad_b.astype(b.dtype, copy=False)


def sgd_epoch(X, y, W, b, order, loss, *, eta0, batch_size=1, alpha=0.0,
              fit_intercept=True, schedule="constant", power_t=0.5, t=0,
              sample_weight=None, W_avg=None, b_avg=None, mean=None, scale=None,
              n_threads=1):
    """One epoch of (minibatch) stochastic gradient descent, in place.

    The batches are consecutive runs of ``batch_size`` indices of ``order``
    (the last may be shorter); ``batch_size >= len(order)`` makes the whole
    order one batch, so an order of every row with such a batch size is one
    full-batch gradient-descent step. For each batch, with t ← t + 1:

        L_B, ∇W, ∇b = gradient(X_B, y_B, W, b)        (L_B: mean loss over B; ∇ has α′ W)
        W ← W − η_t ∇W
        b ← b − η_t ∇b                                (if fit_intercept)
        W̄ ← W̄ + (W − W̄) / t,  b̄ ← b̄ + (b − b̄) / t     (if averaging)

    Returns ``(epoch_loss, t)``: the epoch's data loss (1/n) Σ_i w_i l_i (n =
    len(X), no penalty), each l_i taken before its batch's step, and the step
    count after the epoch. With ``mean``/``scale`` every batch is the
    standardized Z_B (through ``gradient``'s algebra, never formed).
    ``n_threads`` (an int >= 1) is checked and not used: this is the serial
    algorithm, which the kernels run exactly with ``n_threads=1``.
    """
    check_n_threads(n_threads)
    n = X.shape[0]
    total = 0.0
    for start in range(0, len(order), batch_size):
        B = order[start:start + batch_size]
        w_B = None if sample_weight is None else sample_weight[B]
        t += 1
        eta = learning_rate(schedule, eta0, t, power_t, alpha)
        L_B, grad_W, grad_b = _data_loss_and_gradient(X[B], y[B], W, b, loss,
                                                      clipped_alpha(alpha, eta), w_B,
                                                      mean, scale)
        total += L_B * len(B)
        W -= eta * grad_W
        if fit_intercept:
            b -= eta * grad_b
        if W_avg is not None:
            W_avg += (W - W_avg) / t
            b_avg += (b - b_avg) / t
    return total / n, t


def sgd_epochs(X, y, W, b, orders, loss, *, t=0, W_avg=None, b_avg=None, **kwargs):
    """One ``sgd_epoch`` per row of ``orders`` (k, n_order), in place, with
    ``sgd_epoch``'s other arguments. Returns ``(losses, t)``: the epochs'
    data losses (a float64 array) and the step count after the last. Stops
    after an epoch whose loss or any parameter (W, b, W_avg, b_avg) is not
    finite: that epoch is then the last entry."""
    if not isinstance(orders, np.ndarray) or orders.dtype != np.intp or orders.ndim != 2:
        raise TypeError("orders must be a 2-D numpy array of dtype intp")
    params = [W, b] + ([] if W_avg is None else [W_avg, b_avg])
    losses = []
    for order in orders:
        epoch_loss, t = sgd_epoch(X, y, W, b, order, loss, t=t, W_avg=W_avg, b_avg=b_avg,
                                  **kwargs)
        losses.append(epoch_loss)
        if not (np.isfinite(epoch_loss) and all(np.isfinite(p).all() for p in params)):
            break
    return np.array(losses, dtype=np.float64), t


def gradient_descent(X, y, W, b, loss, *, eta0, n_iter, alpha=0.0,
                     fit_intercept=True, sample_weight=None):
    """Full-batch gradient descent, in place: n_iter times,

        W ← W − η ∇W J,   b ← b − η ∇b J   (if fit_intercept).

    Returns the objective before each step (n_iter values).
    """
    history = []
    for _ in range(n_iter):
        J, grad_W, grad_b = gradient(X, y, W, b, loss, alpha, sample_weight)
        history.append(J)
        W -= eta0 * grad_W
        if fit_intercept:
            b -= eta0 * grad_b
    return np.array(history)


def predict(X, W, b, loss):
    """The prediction each model makes from its score.

    squared_error: s; log_loss and logistic_squared_error: [σ(s) >= ½] = [s >= 0];
    perceptron: [s >= 0]; multiclass_perceptron and softmax_cross_entropy:
    argmax_j s_j.
    """
    S = scores(X, W, b)
    if loss == "squared_error":
        return S[:, 0]
    if S.shape[1] == 1:
        return (S[:, 0] >= 0).astype(np.intp)
    return S.argmax(axis=1)
