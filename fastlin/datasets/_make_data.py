"""Development script that wrote the .npz files beside it (not imported by fastlin).

The two datasets are copied from the data files that ship with scikit-learn
(data, not code), so that fastlin needs no network and no scikit-learn at
run time. Re-run with scikit-learn installed:

    python fastlin/datasets/_make_data.py

digits.npz    X uint8 (1797, 64) pixel counts 0..16, y uint8 (1797,) digit 0..9
diabetes.npz  X float64 (442, 10) raw (unscaled) baseline variables,
              y float64 (442,) disease progression one year after baseline
"""
from pathlib import Path

import numpy as np


def main():
    import sklearn.datasets

    src = Path(sklearn.datasets.__file__).parent / "data"
    out = Path(__file__).parent

    digits = np.loadtxt(src / "digits.csv.gz", delimiter=",")
    X, y = digits[:, :-1], digits[:, -1]
    assert X.shape == (1797, 64) and np.array_equal(X, np.round(X)) and X.max() <= 16
    np.savez_compressed(out / "digits.npz", X=X.astype(np.uint8), y=y.astype(np.uint8))

    X = np.loadtxt(src / "diabetes_data_raw.csv.gz")
    y = np.loadtxt(src / "diabetes_target.csv.gz")
    assert X.shape == (442, 10) and y.shape == (442,)
    np.savez_compressed(out / "diabetes.npz", X=X, y=y)


if __name__ == "__main__":
    main()
