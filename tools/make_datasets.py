"""Writes the two datasets that ship inside fastlin (fastlin/datasets/*.npz).

A development script, not part of the package: the data are copied from the
data files that ship with scikit-learn (data, not code), so that fastlin
needs no network and no scikit-learn at run time. With scikit-learn
installed, from the repository's root:

    python tools/make_datasets.py                  # rewrites fastlin/datasets/*.npz
    python tools/make_datasets.py OUT_DIR          # writes them into OUT_DIR

digits.npz    X uint8 (1797, 64) pixel counts 0..16, y uint8 (1797,) digit 0..9
diabetes.npz  X float64 (442, 10) raw (unscaled) baseline variables,
              y float64 (442,) disease progression one year after baseline

The tests (tests/test_dataset_files.py) check that the shipped files hold
exactly what this script writes.
"""
import sys
from pathlib import Path

import numpy as np

PACKAGE_DATA = Path(__file__).resolve().parent.parent / "fastlin" / "datasets"


def arrays():
    """{file name: {array name: array}} read from scikit-learn's data files."""
    import sklearn.datasets

    src = Path(sklearn.datasets.__file__).parent / "data"
    digits = np.loadtxt(src / "digits.csv.gz", delimiter=",")
    X, y = digits[:, :-1], digits[:, -1]
    assert X.shape == (1797, 64) and np.array_equal(X, np.round(X)) and X.max() <= 16
    out = {"digits.npz": {"X": X.astype(np.uint8), "y": y.astype(np.uint8)}}

    X = np.loadtxt(src / "diabetes_data_raw.csv.gz")
    y = np.loadtxt(src / "diabetes_target.csv.gz")
    assert X.shape == (442, 10) and y.shape == (442,)
    out["diabetes.npz"] = {"X": X, "y": y}
    return out


def main(out=PACKAGE_DATA):
    out = Path(out)
    for name, data in arrays().items():
        np.savez_compressed(out / name, **data)


if __name__ == "__main__":
    main(*sys.argv[1:])
