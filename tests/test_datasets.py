"""The embedded datasets (fastlin.datasets): shapes, dtypes, labels, contents."""
import numpy as np
import pytest

from fastlin import datasets


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_digits(dtype):
    X, y = datasets.load_digits(dtype)
    assert X.shape == (1797, 64) and X.dtype == dtype
    assert y.shape == (1797,) and y.dtype == np.intp
    assert X.min() == 0 and X.max() == 16 and np.array_equal(X, np.round(X))
    np.testing.assert_array_equal(np.bincount(y), [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])
    # The first image of the UCI file is a 0.
    assert y[0] == 0
    np.testing.assert_array_equal(X[0, :8], [0, 0, 5, 13, 9, 1, 0, 0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_digits_binary_is_odd_vs_even(dtype):
    X, y = datasets.load_digits_binary(dtype)
    X10, digit = datasets.load_digits(dtype)
    np.testing.assert_array_equal(X, X10)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, np.isin(digit, [1, 3, 5, 7, 9]))
    assert y.sum() == 906


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_diabetes_raw_features(dtype):
    X, y = datasets.load_diabetes(dtype)
    assert X.shape == (442, 10) and y.shape == (442,)
    assert X.dtype == dtype and y.dtype == dtype
    # Unscaled: first patient is 59 years old, sex 2, BMI 32.1, BP 101; target 151.
    np.testing.assert_allclose(X[0, :4], [59, 2, 32.1, 101], rtol=1e-6)
    assert y[0] == 151
    assert 25 <= y.min() and y.max() <= 346


def test_bad_dtype():
    with pytest.raises(ValueError):
        datasets.load_digits(np.int32)


def test_descriptions_credit_the_sources():
    assert "Alpaydin" in datasets.DIGITS_DESCR and "CC BY 4.0" in datasets.DIGITS_DESCR
    assert "Least Angle Regression" in datasets.DIABETES_DESCR
    assert "odd" in datasets.DIGITS_BINARY_DESCR
