"""fastlin's Cython kernels (``fastlin._linear_fast``)."""
from fastlin import _linear_fast

from ._fastlin import prepare_with

NAME = "fastlin-cython"


def prepare(model, data):
    return prepare_with(_linear_fast, model, data)
