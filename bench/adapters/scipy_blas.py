"""The bare-BLAS floor of the network epoch: its matrix products alone
through scipy's BLAS, the library fastlin's network kernel calls, timed in
the same rotation as the epochs (``bench/adapters/_network.py``)."""
from ._network import is_network, prepare_scipy_blas_matmuls

NAME = "scipy-blas"


def prepare(model, data):
    if not is_network(model):
        return None
    return prepare_scipy_blas_matmuls(data)
