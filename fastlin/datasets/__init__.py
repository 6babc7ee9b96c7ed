"""Two small real datasets that ship inside fastlin (no network needed).

``load_digits()``          1797 × 64, 10 classes (UCI handwritten digits 8x8)
``load_digits_binary()``   the same images, label 1 for an odd digit, 0 for even
``load_diabetes()``        442 × 10 regression (raw, unscaled features)

Each loader returns ``(X, y)``: X (n, m) in the requested float dtype; y is
intp labels 0..9 for digits, and floats in X's dtype for the binary task
(0/1) and for diabetes (the response). The attribution of each dataset is in
``DIGITS_DESCR`` and ``DIABETES_DESCR`` (and the README's "Data" section).
The files were copied from the data files distributed with scikit-learn by
the repository's ``tools/make_datasets.py`` (not part of the package).
"""
from importlib.resources import files

import numpy as np

__all__ = [
    "load_digits", "load_digits_binary", "load_diabetes",
    "DIGITS_DESCR", "DIGITS_BINARY_DESCR", "DIABETES_DESCR",
]

DIGITS_DESCR = """\
Optical Recognition of Handwritten Digits (UCI ML Repository), 8x8 version:
1797 images of the digits 0..9 (about 180 per class), 64 features, each the
count of on pixels in a 4x4 block of a 32x32 bitmap (integers 0..16).
Creators: E. Alpaydin and C. Kaynak (1998). UCI Machine Learning Repository,
https://doi.org/10.24432/C50P49. Licence: CC BY 4.0. This is the copy of the
UCI test set distributed with scikit-learn (sklearn.datasets.load_digits).
References: C. Kaynak (1995) Methods of Combining Multiple Classifiers and
Their Applications to Handwritten Digit Recognition, MSc thesis, Bogazici
University; E. Alpaydin, C. Kaynak (1998) Cascading Classifiers, Kybernetika.
"""

DIGITS_BINARY_DESCR = """\
Binary task derived from the digits data: y = 1 if the digit is odd
(1, 3, 5, 7, 9), y = 0 if it is even (0, 2, 4, 6, 8). 1797 samples,
906 odd / 891 even. Same attribution as DIGITS_DESCR.
"""

DIABETES_DESCR = """\
Diabetes data: 442 patients, 10 baseline variables (age, sex, body mass
index, average blood pressure, six blood serum measurements s1..s6), raw and
unscaled; target: a quantitative measure of disease progression one year
after baseline. Source: Bradley Efron, Trevor Hastie, Iain Johnstone and
Robert Tibshirani (2004), "Least Angle Regression", Annals of Statistics
32(2), 407-499; data page https://www4.stat.ncsu.edu/~boos/var.select/diabetes.html.
This is the copy distributed with scikit-learn
(sklearn.datasets.load_diabetes(scaled=False)).
"""


def _load(name):
    with files(__name__).joinpath(name).open("rb") as f, np.load(f) as data:
        return data["X"], data["y"]


def _float_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def load_digits(dtype=np.float64):
    """The UCI handwritten digits 8x8: X (1797, 64) pixel counts 0..16,
    y (1797,) intp digit labels 0..9. See ``DIGITS_DESCR``."""
    X, y = _load("digits.npz")
    return X.astype(_float_dtype(dtype)), y.astype(np.intp)


def load_digits_binary(dtype=np.float64):
    """Digits as a binary task: X (1797, 64), y (1797,) = 1.0 for an odd
    digit, 0.0 for an even one, in X's dtype. See ``DIGITS_BINARY_DESCR``."""
    X, digit = load_digits(dtype)
    return X, (digit % 2).astype(X.dtype)


def load_diabetes(dtype=np.float64):
    """The diabetes regression data: X (442, 10) raw features, y (442,)
    disease progression, both in ``dtype``. See ``DIABETES_DESCR``."""
    X, y = _load("diabetes.npz")
    dtype = _float_dtype(dtype)
    return X.astype(dtype), y.astype(dtype)
