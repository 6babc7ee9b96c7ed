"""fastlin's Cython full-batch gradient on a float32 copy of a float64
problem, so that the float32/float64 ratio comes from the same interleaved
rotation (the float32 problems W1-f32/W2-f32 are timed in rotations of their
own). Gradients only: the epochs' float32 figures are on W1-f32/W2-f32."""
import numpy as np

from fastlin import _linear_fast

from ._fastlin import prepare_with

NAME = "fastlin-cython-f32"


def prepare(model, data):
    if (data["X"].dtype != np.float64 or model.shape != "gradient"
            or getattr(model, "kind", None) not in ("binary", "multiclass")):
        return None
    data32 = dict(data)
    data32["X"] = np.ascontiguousarray(data["X"], dtype=np.float32)
    if data["y"].dtype == np.float64:
        data32["y"] = data["y"].astype(np.float32)
    return prepare_with(_linear_fast, model, data32)
