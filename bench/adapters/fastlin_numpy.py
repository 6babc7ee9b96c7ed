"""fastlin's pure-NumPy reference (``fastlin.reference.linear``).

Its per-sample epoch is a Python loop (seconds per epoch at n = 100,000), so
it is timed on the float64 problems only."""
import numpy as np

from fastlin.reference import linear, network

from ._fastlin import prepare_with
from ._network import is_network, prepare_fastlin

NAME = "fastlin-numpy"


def prepare(model, data):
    if is_network(model):
        return prepare_fastlin(network, data)      # minibatch: NumPy-bound, both dtypes
    if model.shape == "epoch" and data["X"].dtype != np.float64:
        return None
    return prepare_with(linear, model, data)
