"""fastlin's Cython kernels (``fastlin._linear_fast``)."""
from fastlin import _linear_fast, _mlp_fast

from ._fastlin import prepare_with
from ._network import is_network, prepare_fastlin

NAME = "fastlin-cython"


def prepare(model, data):
    if is_network(model):
        return prepare_fastlin(_mlp_fast, data)
    return prepare_with(_linear_fast, model, data)
