"""The network workload (W3) shared by the adapters: its shape and step, the
fastlin epoch on either backend, and the epoch's matrix products alone
(through NumPy's BLAS and through scipy's, the one the kernel calls).

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


def prepare_scipy_blas_matmuls(data):
    """The same five products through scipy's BLAS (``scipy.linalg.blas``:
    the library that the kernel calls through ``cython_blas``), the floor of
    this design. scipy's gemm is column-major: a row-major C = op(A) op(B) is
    the column-major Cᵀ = op(B)ᵀ op(A)ᵀ, written into C in place. The calls'
    arguments (views of the buffers) are made beforehand, so that an epoch is
    the products and a Python call each (about 1 µs). An epoch returns the
    last batch's (z, q, d, gV, gW)."""
    from scipy.linalg import blas

    X = data["X"]
    W, _, V, _ = initial_params(data)
    gemm = blas.dgemm if X.dtype == np.float64 else blas.sgemm
    n, m = X.shape
    bs = min(BATCH_SIZE, n)
    Z = np.zeros((bs, HIDDEN), X.dtype)
    Q = np.zeros((bs, V.shape[1]), X.dtype)
    D = np.zeros((bs, HIDDEN), X.dtype)
    gV = np.empty(V.shape, X.dtype)
    gW = np.empty(W.shape, X.dtype)

    def product(A, B, C, trans_a=False, trans_b=False):
        # gemm's positional arguments for C = op(A) op(B), all C-contiguous
        # (their transposes Fortran-ordered): alpha, a, b, beta, c, trans_a,
        # trans_b, overwrite_c
        return (1.0, B.T, A.T, 0.0, C.T, int(trans_b), int(trans_a), 1)

    calls = []
    for start in range(0, n, BATCH_SIZE):
        Xb = X[start:start + BATCH_SIZE]
        k = Xb.shape[0]
        z, q, d = Z[:k], Q[:k], D[:k]
        calls += [product(Xb, W, z), product(z, V, q), product(q, V, d, trans_b=True),
                  product(z, q, gV, trans_a=True), product(Xb, d, gW, trans_a=True)]

    def matmuls():
        for args in calls:
            gemm(*args)
        return z, q, d, gV, gW
    return matmuls
