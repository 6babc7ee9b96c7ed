"""The network workload (W3) shared by the adapters: its shape and step, the
fastlin epoch on either backend, and the epoch's matrix products alone.

Every competitor runs one epoch of minibatch SGD (batch 128, no momentum,
L2 α = 1e-4 as scikit-learn's default) of X (n, 784) -> 128 sigmoid units ->
softmax over 10 classes, over the same fixed order, restarting each call from
the same initial weights.
"""
import numpy as np

HIDDEN = 128
BATCH_SIZE = 128
ETA0 = 0.01
ALPHA = 1e-4


def is_network(model):
    return model.kind == "network"


def initial_params(data):
    """[W, b1, V, b2] from fastlin's initialisation (seed 0), X's dtype."""
    from fastlin.reference.network import init_params

    X = data["X"]
    return init_params(X.shape[1], HIDDEN, data["c"], random_state=0, dtype=X.dtype)


def prepare_fastlin(module, data):
    """One ``module.sgd_epoch`` (``fastlin._mlp_fast`` or
    ``fastlin.reference.network``) from the same start every call."""
    X, y, order = data["X"], data["y"], data["order"]
    start = initial_params(data)
    params = [p.copy() for p in start]

    def epoch():
        for p, p0 in zip(params, start):
            p[...] = p0
        return module.sgd_epoch(X, y, params, order, eta0=ETA0, batch_size=BATCH_SIZE,
                                alpha=ALPHA)
    return epoch


def prepare_numpy_matmuls(data):
    """The epoch's five matrix products per batch of consecutive rows, as bare
    NumPy matmuls into preallocated buffers (NumPy's own BLAS):

        Z = Xb W,  Q = Z V,  D = Q Vᵀ,  gV = Zᵀ Q,  gW = Xbᵀ D
    """
    X = data["X"]
    W, _, V, _ = initial_params(data)
    n, m = X.shape
    bs = min(BATCH_SIZE, n)
    Z = np.zeros((bs, HIDDEN), X.dtype)
    Q = np.zeros((bs, V.shape[1]), X.dtype)
    D = np.zeros((bs, HIDDEN), X.dtype)
    gV = np.empty(V.shape, X.dtype)
    gW = np.empty(W.shape, X.dtype)
    VT = V.T

    def matmuls():
        for start in range(0, n, BATCH_SIZE):
            Xb = X[start:start + BATCH_SIZE]
            k = Xb.shape[0]
            z, q, d = Z[:k], Q[:k], D[:k]
            np.matmul(Xb, W, out=z)
            np.matmul(z, V, out=q)
            np.matmul(q, VT, out=d)
            np.matmul(z.T, q, out=gV)
            np.matmul(Xb.T, d, out=gW)
    return matmuls


def prepare_cython_blas_matmuls(data):
    """The same five products through scipy's cython_blas, the BLAS the
    kernel itself calls, with the GIL released
    (``fastlin._mlp_fast.matmul_floor_epoch``): the floor of this design."""
    from fastlin import _mlp_fast

    X = data["X"]
    W, _, V, _ = initial_params(data)
    return lambda: _mlp_fast.matmul_floor_epoch(X, W, V, BATCH_SIZE)
