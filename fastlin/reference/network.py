"""The one-hidden-layer network (§7 of docs/math.md) in pure NumPy.

Shapes: X (n, m), W (m, b), b1 (b,), V (b, c), b2 (c,), labels y (n,) intp in
0..c-1, Y (n, c) their one-hot rows. The forward pass:

    Ẑ = X W + b1          (n, b)
    Z = σ(Ẑ)              (n, b)   sigmoid hidden units
    Q̂ = Z V + b2          (n, c)
    Q = softmax(Q̂)        (n, c)   row-wise

The objective is a **mean** over samples, as for the linear models, with
sample weights w_i (1 when not given) and the biases unpenalised:

    CE_i = −log Q_{i,y_i} = logsumexp(Q̂_i) − Q̂_{i,y_i}
    J    = (1/n) Σ_i w_i CE_i + (α/2) (||W||² + ||V||²)

CE is computed from the scores through log-sum-exp, never from a clipped
probability, so scores of any size give a finite loss. Backpropagation:

    Δ2  = w ⊙ (Q − Y) / n                (n, c)
    ∇V  = Zᵀ Δ2 + α V                    (b, c)
    ∇b2 = Σ_i Δ2_i                       (c,)
    Δ1  = (Δ2 Vᵀ) ⊙ Z ⊙ (1 − Z)          (n, b)
    ∇W  = Xᵀ Δ1 + α W                    (m, b)
    ∇b1 = Σ_i Δ1_i                       (b,)

The parameters travel as a list ``params = [W, b1, V, b2]`` (updated in place
by ``sgd_epoch``); their dtype follows X's (float32 or float64). The Cython
kernel ``fastlin._mlp_fast.sgd_epoch`` has the same signature and semantics.

Standardization: ``mean`` μ and ``scale`` σ (float64 (m,), None meaning 0 and
1) make the training functions work on the rows z_i = (x_i − μ) / σ without
forming them, W and b1 the first layer of that space:

    Ẑ   = Z W + b1 = X (W / σ) + (b1 − (μ / σ) W)
    ∇W  = Zᵀ Δ1 + α W = (Xᵀ Δ1 − μ ⊗ Σ_i Δ1_i) / σ + α W
"""
import numpy as np

from .._numeric import clipped_alpha, init_network_params, learning_rate, sigmoid, softmax
from .._parallel import check_n_threads
from .losses import softmax_cross_entropy


init_params = init_network_params


def raw_first_layer(W, b1, mean=None, scale=None, dtype=None):
    """The standardized first layer as a layer of the raw rows, in ``dtype``
    (W's by default): W / σ and b1 − (μ / σ) W."""
    dtype = W.dtype if dtype is None else dtype
    W_raw = W if scale is None else W / scale[:, None]
    b1_raw = b1 if mean is None else b1 - mean @ W_raw
    return W_raw.astype(dtype, copy=False), b1_raw.astype(dtype, copy=False)


def _scores(X, W, b1, V, b2, mean=None, scale=None):
    """Z = σ(X W + b1) and the output scores Q̂ = Z V + b2 (Z W + b1 inside
    σ with μ, σ)."""
    if mean is not None or scale is not None:
        W, b1 = raw_first_layer(W, b1, mean, scale, X.dtype)
    Z = sigmoid(X @ W + b1)
    Q_hat = Z @ V + b2
    return Z, Q_hat


def forward(X, W, b1, V, b2):
    """(Z, Q): Z = σ(X W + b1) (n, b), Q = softmax(Z V + b2) (n, c)."""
    Z, Q_hat = _scores(X, W, b1, V, b2)
    return Z, softmax(Q_hat)


def predict_proba(X, W, b1, V, b2):
    """Q = softmax(σ(X W + b1) V + b2), (n, c); each row sums to 1."""
    return forward(X, W, b1, V, b2)[1]


def predict(X, W, b1, V, b2):
    """ŷ_i = argmax_k Q̂_{i,k} (the lowest index on ties), intp (n,)."""
    return _scores(X, W, b1, V, b2)[1].argmax(axis=1)


def _weights(sample_weight, n, dtype):
    """w (n,) in X's dtype: ones when ``sample_weight`` is None."""
    if sample_weight is None:
        return np.ones(n, dtype=dtype)
    return np.asarray(sample_weight, dtype=dtype)


def _penalty(W, V, alpha):
    """(α/2) (||W||² + ||V||²) in float64, exactly 0 when α = 0 (weights whose
    squares overflow must not turn 0 · inf into NaN)."""
    if alpha == 0:
        return 0.0
    return 0.5 * alpha * (np.square(W, dtype=np.float64).sum()
                          + np.square(V, dtype=np.float64).sum())


def cross_entropy(X, y, W, b1, V, b2):
    """CE_i = −log Q_{i,y_i} = logsumexp(Q̂_i) − Q̂_{i,y_i}, (n,): the softmax
    loss of §6 on the output scores."""
    _, Q_hat = _scores(X, W, b1, V, b2)
    return softmax_cross_entropy(Q_hat, y)[0]


def objective(X, y, params, alpha=0.0, sample_weight=None, *, mean=None, scale=None):
    """J = (1/n) Σ_i w_i CE_i + (α/2) (||W||² + ||V||²) (on z_i with μ, σ)."""
    W, b1, V, b2 = params
    n = X.shape[0]
    w = _weights(sample_weight, n, X.dtype)
    _, Q_hat = _scores(X, W, b1, V, b2, mean, scale)
    CE = softmax_cross_entropy(Q_hat, y)[0]
    return (w * CE).sum() / n + _penalty(W, V, alpha)


def loss_and_gradient(X, y, params, alpha=0.0, sample_weight=None, *, mean=None, scale=None):
    """The objective J and its gradient [∇W, ∇b1, ∇V, ∇b2] by backpropagation.

    Forward:  Z = σ(X W + b1),  Q̂ = Z V + b2,  Q = softmax(Q̂),
              CE_i = logsumexp(Q̂_i) − Q̂_{i,y_i},
              J = (1/n) Σ_i w_i CE_i + (α/2) (||W||² + ||V||²).
    Backward: Δ2 = w ⊙ (Q − Y) / n,   ∇V = Zᵀ Δ2 + α V,   ∇b2 = Σ_i Δ2_i,
              Δ1 = (Δ2 Vᵀ) ⊙ Z ⊙ (1 − Z),
              ∇W = Xᵀ Δ1 + α W,       ∇b1 = Σ_i Δ1_i.

    With μ, σ: Z in place of X (see the module docstring for the algebra).

    Returns ``(J, [grad_W, grad_b1, grad_V, grad_b2])`` in the parameters' dtype.
    """
    data_loss, grads = _data_loss_and_gradient(X, y, params, alpha, sample_weight, mean, scale)
    return data_loss + _penalty(params[0], params[2], alpha), grads


def _data_loss_and_gradient(X, y, params, alpha, sample_weight, mean=None, scale=None):
    """``loss_and_gradient`` with the loss term (1/n) Σ_i w_i CE_i alone in
    place of J (the epoch loss needs it without the penalty, and subtracting
    the penalty again would cancel digits when the weights are large)."""
    W, b1, V, b2 = params
    n = X.shape[0]
    w = _weights(sample_weight, n, X.dtype)

    Z, Q_hat = _scores(X, W, b1, V, b2, mean, scale)
    CE, Q_minus_Y = softmax_cross_entropy(Q_hat, y)     # CE_i and Q − Y (§6 on Q̂), float64
    data_loss = (w * CE).sum() / n

    # as in the kernel: Δ2 and Δ1 in X's dtype, the bias gradients summed in float64
    D2 = (w[:, None] * Q_minus_Y / n).astype(X.dtype)
    grad_V = Z.T @ D2 + alpha * V
    grad_b2 = D2.sum(axis=0, dtype=np.float64)
    D1 = (D2 @ V.T) * Z * (1 - Z)
    grad_b1 = D1.sum(axis=0, dtype=np.float64)
    grad_W = X.T @ D1                                   # Zᵀ Δ1 = (Xᵀ Δ1 − μ ⊗ Σ Δ1) / σ
    if mean is not None:
        grad_W = grad_W - np.outer(mean, grad_b1)
    if scale is not None:
        grad_W = grad_W / scale[:, None]
    grad_W = grad_W + alpha * W

    grads = [grad_W, grad_b1, grad_V, grad_b2]
    return data_loss, [g.astype(p.dtype, copy=False) for g, p in zip(grads, params)]


def sgd_epoch(X, y, params, order, *, eta0, batch_size=32, alpha=0.0,
              momentum=0.0, nesterov=False, velocities=None,
              schedule="constant", power_t=0.5, t=0, sample_weight=None,
              mean=None, scale=None, n_threads=1):
    """One epoch of minibatch SGD on the network, in place.

    The batches are consecutive runs of ``batch_size`` entries of ``order``
    (the last may be shorter). For each batch B, with t ← t + 1 and
    η_t = ``learning_rate(schedule, eta0, t, power_t, alpha)``:

        J_B, g = loss_and_gradient(X_B, y_B, params, α′, w_B)
                   (the batch objective: mean over B, plus the penalty with
                   α′ = min(α, 1/η_t), so that its part of the step,
                   max(0, 1 − η_t α) θ, never overshoots 0)
        plain     (momentum = 0):  θ ← θ − η_t g
        momentum  (μ > 0):         v ← μ v − η_t g,   θ ← θ + v
        Nesterov  (μ > 0):         v ← μ v − η_t g,   θ ← θ + μ v − η_t g

    for each of θ = W, b1, V, b2 with its velocity v in ``velocities`` (a list
    shaped like ``params``, updated in place; required when momentum > 0,
    ignored otherwise). With ``mean``/``scale`` each batch is the
    standardized Z_B, through the first layer's algebra, never formed.

    Returns ``(epoch_loss, t)``: epoch_loss = (1/n) Σ_i w_i CE_i (n = len(X),
    no penalty), each CE_i evaluated in the forward pass of its batch, i.e.
    before that batch's update; t is the step count after the epoch.
    ``n_threads`` (an int >= 1, the kernel's thread count) is checked and
    not used.
    """
    check_n_threads(n_threads)
    if momentum > 0 and velocities is None:
        raise ValueError("momentum > 0 needs velocities (a list shaped like params)")
    n = X.shape[0]
    total = 0.0
    for start in range(0, len(order), batch_size):
        B = order[start:start + batch_size]
        w_B = None if sample_weight is None else sample_weight[B]
        t += 1
        eta = learning_rate(schedule, eta0, t, power_t, alpha)
        L_B, grads = _data_loss_and_gradient(X[B], y[B], params, clipped_alpha(alpha, eta),
                                             w_B, mean, scale)
        total += L_B * len(B)
        for theta, g, v in zip(params, grads, velocities or [None] * 4):
            if momentum > 0:
                v *= momentum
                v -= eta * g
                if nesterov:
                    theta += momentum * v - eta * g
                else:
                    theta += v
            else:
                theta -= eta * g
    return float(total) / n, t


def sgd_epochs(X, y, params, orders, *, t=0, **kwargs):
    """One ``sgd_epoch`` per row of ``orders`` (k, n_order), in place, with
    ``sgd_epoch``'s other arguments. Returns ``(losses, t)``: the epochs'
    data losses (a float64 array) and the step count after the last. Stops
    after an epoch whose loss or any parameter is not finite: that epoch is
    then the last entry."""
    if not isinstance(orders, np.ndarray) or orders.dtype != np.intp or orders.ndim != 2:
        raise TypeError("orders must be a 2-D numpy array of dtype intp")
    losses = []
    for order in orders:
        epoch_loss, t = sgd_epoch(X, y, params, order, t=t, **kwargs)
        losses.append(epoch_loss)
        if not (np.isfinite(epoch_loss) and all(np.isfinite(p).all() for p in params)):
            break
    return np.array(losses, dtype=np.float64), t
