"""The bare NumPy expressions of the full-batch gradients, with no intercept,
weights or mean: the least work NumPy does for them (two BLAS passes over X)."""
import numpy as np

from . import initial_weights
from ._network import is_network, prepare_numpy_matmuls

NAME = "numpy-blas"


def prepare(model, data):
    if is_network(model):
        return prepare_numpy_matmuls(data)       # the network epoch's products alone
    if model.shape != "gradient":
        return None
    X, y = data["X"], data["y"]
    W, b = initial_weights(data, zero=False)
    w = W[:, 0].copy()
    if model.loss == "squared_error":
        # X.T @ (X @ w - y)
        return lambda: X.T @ (X @ w - y)
    if model.loss == "log_loss":
        # X.T @ (σ(X @ w) - y)
        return lambda: X.T @ (1.0 / (1.0 + np.exp(-(X @ w))) - y)
    if model.loss == "softmax_cross_entropy":
        rows = np.arange(X.shape[0])

        def softmax_gradient():
            # P = softmax(X @ W + b);  X.T @ (P - onehot(y))
            S = X @ W + b
            S -= S.max(axis=1, keepdims=True)
            P = np.exp(S)
            P /= P.sum(axis=1, keepdims=True)
            P[rows, y] -= 1
            return X.T @ P
        return softmax_gradient
    return None
