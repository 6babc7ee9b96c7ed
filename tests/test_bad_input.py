"""Bad input, every estimator: each case raises ValueError/TypeError (or
NotFittedError) with a message naming the problem; valid but awkward input
(dtypes, layouts, views, memory maps, lists, labels) fits with finite results
identical to the fit on the plain float array.

Every estimator configuration of ``estimator_cases.CASES`` runs every case,
on both backends.
"""
import numpy as np
import pytest

from estimator_cases import (BACKENDS, CLASSIFIERS, NAMES, fitted_arrays, kind, make,
                             make_data, quiet_fit)
from fastlin import DivergenceError, NotFittedError


def _set(a, index, value):
    a = np.array(a, dtype=np.float64)
    a[index] = value
    return a


def _one_class(X, y):
    return X, np.full(len(y), y[0])


# id -> (change (X, y) -> (X, y, fit keyword arguments), error, message,
#        which estimators: "all", "clf" or "reg")
FIT_CASES = {
    "nan-in-X": (lambda X, y: (_set(X, (3, 1), np.nan), y, {}),
                 ValueError, "X contains NaN or infinity", "all"),
    "inf-in-X": (lambda X, y: (_set(X, (0, 0), np.inf), y, {}),
                 ValueError, "X contains NaN or infinity", "all"),
    "-inf-in-X": (lambda X, y: (_set(X, (5, 2), -np.inf), y, {}),
                  ValueError, "X contains NaN or infinity", "all"),
    "nan-in-y": (lambda X, y: (X, _set(y, 4, np.nan), {}),
                 ValueError, "y contains NaN or infinity", "all"),
    "inf-in-y": (lambda X, y: (X, _set(y, 4, np.inf), {}),
                 ValueError, "y contains NaN or infinity", "all"),
    "empty-X": (lambda X, y: (X[:0], y[:0], {}), ValueError, "0 sample", "all"),
    "1d-X": (lambda X, y: (X[:, 0], y, {}), ValueError, "Expected 2D array, got 1D", "all"),
    "3d-X": (lambda X, y: (X[:, :, None], y, {}), ValueError, "Expected 2D array, got 3D",
             "all"),
    "0d-X": (lambda X, y: (np.float64(1.0), y, {}), ValueError, "Expected 2D array, got 0D",
             "all"),
    "zero-features": (lambda X, y: (X[:, :0], y, {}), ValueError, "0 feature", "all"),
    "y-too-short": (lambda X, y: (X, y[:-1], {}), ValueError, "inconsistent numbers of samples",
                    "all"),
    "y-too-long": (lambda X, y: (X, np.concatenate([y, y[:3]]), {}), ValueError,
                   "inconsistent numbers of samples", "all"),
    "y-2d": (lambda X, y: (X, np.column_stack([y, y]), {}), ValueError,
             "y should be a 1d array", "all"),
    "y-none": (lambda X, y: (X, None, {}), ValueError, "requires y to be passed", "all"),
    "one-class": (lambda X, y: (*_one_class(X, y), {}), ValueError, "at least 2 classes",
                  "clf"),
    "continuous-target": (lambda X, y: (X, y + 0.5, {}), ValueError,
                          "Unknown label type: continuous", "clf"),
    "string-y-regression": (lambda X, y: (X, np.array(["a"] * len(y)), {}), TypeError,
                            "y has dtype <U1; expected numbers", "reg"),
    "object-X-strings": (lambda X, y: (np.array([["a", 1.0]] * len(y), dtype=object), y, {}),
                         TypeError, "X has dtype object with a non-numeric entry", "all"),
    "string-X": (lambda X, y: (X.astype(str), y, {}), TypeError,
                 "X has dtype <U.*expected numbers", "all"),
    "bytes-X": (lambda X, y: (X.astype("S8"), y, {}), TypeError,
                "X has dtype |S8; expected numbers", "all"),
    "complex-X": (lambda X, y: (X + 1j, y, {}), ValueError, "Complex data not supported", "all"),
    "ragged-X": (lambda X, y: ([[1.0, 2.0], [3.0]] + [[1.0, 2.0]] * (len(y) - 2), y, {}),
                 ValueError, "X cannot be converted to an array", "all"),
    "datetime-X": (lambda X, y: (np.zeros(X.shape, dtype="datetime64[s]"), y, {}), TypeError,
                   "dates/times", "all"),
    "X-none": (lambda X, y: (None, y, {}), ValueError, "X is None", "all"),
    "negative-sample-weight": (
        lambda X, y: (X, y, {"sample_weight": _set(np.ones(len(y)), 3, -1.0)}),
        ValueError, "Negative values in sample_weight", "all"),
    "short-sample-weight": (lambda X, y: (X, y, {"sample_weight": np.ones(len(y) - 1)}),
                            ValueError, r"sample_weight.shape == \(39,\), expected \(40,\)",
                            "all"),
    "2d-sample-weight": (lambda X, y: (X, y, {"sample_weight": np.ones((len(y), 1))}),
                         ValueError, "sample_weight must be 1d", "all"),
    "nan-sample-weight": (lambda X, y: (X, y, {"sample_weight": _set(np.ones(len(y)), 0, np.nan)}),
                          ValueError, "sample_weight contains NaN or infinity", "all"),
    "zero-sample-weight": (lambda X, y: (X, y, {"sample_weight": np.zeros(len(y))}),
                           ValueError, "sample_weight sums to zero", "all"),
    "string-sample-weight": (lambda X, y: (X, y, {"sample_weight": ["a"] * len(y)}),
                             TypeError, "sample_weight has dtype", "all"),
}


def _applies(which, name):
    return which == "all" or (which == "clf") == (kind(name) != "reg")


FIT_PARAMS = [pytest.param(name, case, id=f"{name}-{case}")
              for case, (*_, which) in FIT_CASES.items()
              for name in NAMES if _applies(which, name)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,case", FIT_PARAMS)
def test_bad_fit_input_raises_a_named_error(name, case, backend):
    change, error, message, _ = FIT_CASES[case]
    X, y = make_data(name)
    X, y, kw = change(X, y)
    est = make(name, backend=backend)
    with pytest.raises(error, match=message):
        est.fit(X, y, **kw)
    # nothing was published: the estimator is still unfitted
    with pytest.raises(NotFittedError):
        est.predict(make_data(name)[0])


# (parameter, bad value, error, message); "all" estimators unless named
BAD_PARAMS = [
    ("learning_rate", -0.1, ValueError, "learning_rate must be > 0"),
    ("learning_rate", 0.0, ValueError, "learning_rate must be > 0"),
    ("learning_rate", np.nan, TypeError, "learning_rate must be a finite real number"),
    ("learning_rate", "big", TypeError, "learning_rate must be a finite real number"),
    ("max_iter", 0, ValueError, "max_iter must be >= 1"),
    ("max_iter", -3, ValueError, "max_iter must be >= 1"),
    ("max_iter", 2.5, TypeError, "max_iter must be an integer"),
    ("batch_size", 0, ValueError, "batch_size must be >= 1"),
    ("alpha", -1.0, ValueError, "alpha must be >= 0"),
    ("tol", -1.0, ValueError, "tol must be >= 0"),
    ("n_iter_no_change", 0, ValueError, "n_iter_no_change must be >= 1"),
    ("power_t", -0.5, ValueError, "power_t must be >= 0"),
    ("learning_rate_schedule", "sometimes", ValueError,
     "learning_rate_schedule='sometimes' is not valid"),
    ("backend", "fortran", ValueError, "backend='fortran' is not valid"),
    ("backend", None, ValueError, "backend=None is not valid"),
    ("shuffle", "yes", TypeError, "shuffle must be a bool"),
    ("random_state", -1, ValueError, "random_state must be"),
    ("random_state", "seed", ValueError, "random_state must be"),
]
MODEL_BAD_PARAMS = {
    "LogisticRegression-log": [("loss", "hinge", ValueError, "loss='hinge' is not valid")],
    "LogisticRegression-squared": [("loss", None, ValueError, "loss=None is not valid")],
    "MLPClassifier": [("hidden_size", 0, ValueError, "hidden_size must be >= 1"),
                      ("momentum", 1.0, ValueError, "momentum must be < 1"),
                      ("momentum", -0.1, ValueError, "momentum must be >= 0")],
}
for _name in NAMES:
    if _name != "MLPClassifier":
        MODEL_BAD_PARAMS.setdefault(_name, []).append(
            ("average", "no", TypeError, "average must be a bool"))
PARAM_CASES = [pytest.param(name, *case, id=f"{name}-{case[0]}={case[1]!r}")
               for name in NAMES for case in BAD_PARAMS + MODEL_BAD_PARAMS.get(name, [])]


@pytest.mark.parametrize("name,param,value,error,message", PARAM_CASES)
def test_bad_hyperparameter_raises_a_named_error(name, param, value, error, message):
    X, y = make_data(name)
    est = make(name).set_params(**{param: value})
    with pytest.raises(error, match=message):
        est.fit(X, y)
    with pytest.raises(error, match=message):
        est.partial_fit(X, y, **({} if kind(name) == "reg" else {"classes": np.unique(y)}))


def test_unknown_parameter_name_is_named():
    with pytest.raises(ValueError, match="invalid parameter 'learning_rte'"):
        make("LinearRegression").set_params(learning_rte=0.1)
    with pytest.raises(TypeError, match="learning_rte"):
        make("Perceptron", learning_rte=0.1)


def _methods(name):
    return ["predict", "score"] + ([] if kind(name) == "reg" else ["decision_function"]) + (
        ["predict_proba"] if name.startswith(("Logistic", "Softmax", "MLP")) else [])


PREDICT_PARAMS = [pytest.param(name, method, id=f"{name}-{method}")
                  for name in NAMES for method in _methods(name)]


def _call(est, method, X, y):
    return getattr(est, method)(X, y) if method == "score" else getattr(est, method)(X)


@pytest.mark.parametrize("name,method", PREDICT_PARAMS)
def test_predict_before_fit_raises_not_fitted(name, method):
    X, y = make_data(name)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        _call(make(name), method, X, y)


# change of X at predict time -> (error, message)
PREDICT_CASES = {
    "more-features": (lambda X: np.hstack([X, X[:, :1]]), ValueError,
                      "X has 5 features, but .* is expecting 4 features"),
    "fewer-features": (lambda X: X[:, :3], ValueError,
                       "X has 3 features, but .* is expecting 4 features"),
    "nan": (lambda X: _set(X, (1, 1), np.nan), ValueError, "X contains NaN or infinity"),
    "1d": (lambda X: X[0], ValueError, "Expected 2D array, got 1D"),
    "empty": (lambda X: X[:0], ValueError, "0 sample"),
    "strings": (lambda X: X.astype(str), TypeError, "expected numbers"),
    "complex": (lambda X: X * 1j, ValueError, "Complex data not supported"),
}


@pytest.mark.parametrize("case", list(PREDICT_CASES))
@pytest.mark.parametrize("name,method", PREDICT_PARAMS)
def test_bad_predict_input_raises_a_named_error(name, method, case):
    change, error, message = PREDICT_CASES[case]
    X, y = make_data(name)
    est = quiet_fit(make(name), X, y)
    with pytest.raises(error, match=message):
        _call(est, method, change(X), y)


def test_partial_fit_with_another_number_of_features():
    for name in NAMES:
        X, y = make_data(name)
        kw = {} if kind(name) == "reg" else {"classes": np.unique(y)}
        est = make(name).partial_fit(X, y, **kw)
        with pytest.raises(ValueError, match="X has 3 features, but .* is expecting 4"):
            est.partial_fit(X[:, :3], y)


# --------------------------------------------------------------------------
# valid but awkward input: works, finite, and exactly the fit on the plain array

def _memmap(X, tmp_path):
    mm = np.memmap(tmp_path / "X.dat", dtype=X.dtype, mode="w+", shape=X.shape)
    mm[:] = X
    mm.flush()
    return np.memmap(tmp_path / "X.dat", dtype=X.dtype, mode="r", shape=X.shape)


def _npy_mmap(X, tmp_path):
    np.save(tmp_path / "X.npy", X)
    return np.load(tmp_path / "X.npy", mmap_mode="r")


def _read_only(X, tmp_path):
    X = X.copy()
    X.flags.writeable = False
    return X


def _strided(X, tmp_path):
    wide = np.zeros((X.shape[0], 2 * X.shape[1]))
    wide[:, ::2] = X
    view = wide[:, ::2]
    assert not view.flags.c_contiguous
    return view


def _negative_stride(X, tmp_path):
    view = X[::-1].copy()[::-1]
    assert view.strides[0] < 0
    return view


def _negative_stride_columns(X, tmp_path):
    view = X[:, ::-1].copy()[:, ::-1]
    assert view.strides[1] < 0
    return view


# X (float64, values already in the target dtype) -> the awkward form of the
# same values; the fit must equal the fit on the plain C-contiguous float64 X
# (float32 forms: the fit on the plain float32 array)
LAYOUTS = {
    "fortran": lambda X, p: np.asfortranarray(X),
    "strided-columns": _strided,
    "row-step-2": lambda X, p: np.repeat(X, 2, axis=0)[::2],
    "negative-row-stride": _negative_stride,
    "negative-column-stride": _negative_stride_columns,
    "read-only": _read_only,
    "memmap": _memmap,
    "np.load-mmap": _npy_mmap,
    "list": lambda X, p: X.tolist(),
    "tuple-of-tuples": lambda X, p: tuple(map(tuple, X.tolist())),
    "object-numbers": lambda X, p: X.astype(object),
    "float16-exact": lambda X, p: X.astype(np.float16),
}
FLOAT32_LAYOUTS = {
    "float32-fortran": lambda X, p: np.asfortranarray(X.astype(np.float32)),
    "float32-read-only": lambda X, p: _read_only(X.astype(np.float32), p),
    "float32-memmap": lambda X, p: _memmap(X.astype(np.float32), p),
    "float32-np.load-mmap": lambda X, p: _npy_mmap(X.astype(np.float32), p),
    "float32-negative-stride": lambda X, p: _negative_stride(X.astype(np.float32), p),
}


def _assert_same_fit(est, ref, X_pred):
    for a, b in zip(fitted_arrays(est), fitted_arrays(ref)):
        assert a.dtype == b.dtype
        assert np.all(np.isfinite(a))
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(est.predict(X_pred), ref.predict(X_pred))


@pytest.mark.parametrize("layout", list(LAYOUTS) + list(FLOAT32_LAYOUTS))
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_awkward_layouts_fit_like_the_plain_array(name, layout, backend, tmp_path):
    X, y = make_data(name)
    # values exactly representable in float16 and float32, so every form holds them
    X = np.round(X * 8) / 8
    if layout in FLOAT32_LAYOUTS:
        X_awkward = FLOAT32_LAYOUTS[layout](X, tmp_path)
        X_plain = X.astype(np.float32)
    else:
        X_awkward = LAYOUTS[layout](X, tmp_path)
        X_plain = X
    est = quiet_fit(make(name, backend=backend), X_awkward, y)
    ref = quiet_fit(make(name, backend=backend), X_plain, y)
    _assert_same_fit(est, ref, X_plain)
    # and predicting on the awkward form gives the same predictions
    np.testing.assert_array_equal(est.predict(X_awkward), ref.predict(X_plain))


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint16, bool])
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_integer_and_bool_X_fit_like_float64(name, dtype, backend):
    X, y = make_data(name)
    X_int = (X > 0) if dtype is bool else np.round(3 * X).astype(dtype)
    if dtype is np.uint16 and kind(name) == "reg":
        # negatives wrap to ~65535: unscaled, SGD diverges, and says so alike
        for X_fit in (X_int, X_int.astype(np.float64)):
            with pytest.raises(DivergenceError):
                quiet_fit(make(name, backend=backend, standardize=False, learning_rate=0.01),
                          X_fit, y)
        return
    est = quiet_fit(make(name, backend=backend), X_int, y)
    ref = quiet_fit(make(name, backend=backend), X_int.astype(np.float64), y)
    _assert_same_fit(est, ref, X_int.astype(np.float64))
    assert fitted_arrays(est)[0].dtype == np.float64


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_trains_in_float32_with_finite_results(name, backend):
    X, y = make_data(name, dtype=np.float32)
    est = quiet_fit(make(name, backend=backend), X, y)
    for a in fitted_arrays(est):
        assert a.dtype == np.float32
        assert np.all(np.isfinite(a))
    _assert_finite_predictions(est, X)


def _assert_finite_predictions(est, X):
    pred = est.predict(X)
    assert len(pred) == len(X)
    if hasattr(est, "classes_"):
        assert np.isin(pred, est.classes_).all()
        assert np.all(np.isfinite(est.decision_function(X)))
    else:
        assert np.all(np.isfinite(pred))
    if hasattr(est, "predict_proba"):
        P = est.predict_proba(X)
        assert np.all(np.isfinite(P))
        np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_single_row_predict(name, backend):
    X, y = make_data(name)
    est = quiet_fit(make(name, backend=backend), X, y)
    one = est.predict(X[3:4])
    assert one.shape == (1,)
    assert one[0] == est.predict(X)[3]
    assert est.predict([X[3].tolist()])[0] == one[0]
    with pytest.raises(ValueError, match="Reshape your data"):
        est.predict(X[3])


# (X, y) -> awkward but valid training data
DATA_CASES = {
    "constant-feature": lambda X, y: (np.column_stack([X, np.full(len(X), 7.0)]), y),
    "all-features-constant": lambda X, y: (np.ones_like(X), y),
    "zero-feature-column": lambda X, y: (np.column_stack([np.zeros(len(X)), X]), y),
    "duplicated-rows": lambda X, y: (np.vstack([X, X, X]), np.concatenate([y, y, y])),
    "single-feature": lambda X, y: (X[:, :1], y),
    "large-offset": lambda X, y: (X + 100.0, y),
}


@pytest.mark.parametrize("case", list(DATA_CASES))
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_awkward_data_fits_with_finite_results(name, case, backend):
    X, y = DATA_CASES[case](*make_data(name))
    if case == "large-offset" and kind(name) == "reg":
        # unscaled features: SGD at this step size diverges, and says so
        with pytest.raises(DivergenceError):
            quiet_fit(make(name, backend=backend, learning_rate=0.01), X, y)
        return
    est = quiet_fit(make(name, backend=backend, learning_rate=0.01), X, y)
    for a in fitted_arrays(est):
        assert np.all(np.isfinite(a))
    assert np.all(np.isfinite(est.loss_curve_))
    _assert_finite_predictions(est, X)


def test_one_sample_per_class_and_a_single_sample_regression():
    for name in NAMES:
        c = 2 if kind(name) == "bin" else 3
        X, y = make_data(name, n=c, c=c)
        if kind(name) != "reg":
            y = np.arange(c)
        est = quiet_fit(make(name), X, y)
        _assert_finite_predictions(est, X)
    est = quiet_fit(make("LinearRegression"), [[1.0, 2.0]], [3.0])
    assert np.isfinite(est.predict([[1.0, 2.0]])).all()


# labels -> how they are built from the 0..c-1 indices
LABELS = {
    "strings": lambda idx: np.array(["cat", "dog", "emu", "gnu"])[idx],
    "minus-one-plus-one": lambda idx: np.array([-1, 1, 3, 5])[idx],
    "floats-integral": lambda idx: np.array([-1.0, 1.0, 2.0, 10.0])[idx],
    "bools": lambda idx: idx.astype(bool),
    "object-strings": lambda idx: np.array(["a", "b", "c", "d"], dtype=object)[idx],
    "list-of-strings": lambda idx: [["x", "y", "z", "w"][i] for i in idx],
    "uint8": lambda idx: idx.astype(np.uint8) + 200,
}


@pytest.mark.parametrize("labels", list(LABELS))
@pytest.mark.parametrize("name", CLASSIFIERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_any_labels_fit_like_integer_labels(name, labels, backend):
    X, idx = make_data(name, c=2 if labels == "bools" else 3)
    y = LABELS[labels](idx)
    est = quiet_fit(make(name, backend=backend), X, y)
    ref = quiet_fit(make(name, backend=backend), X, idx)
    expected_classes = np.unique(np.asarray(y))
    np.testing.assert_array_equal(est.classes_, expected_classes)
    for a, b in zip(fitted_arrays(est), fitted_arrays(ref)):
        np.testing.assert_array_equal(a, b)
    # predictions are the labels themselves
    np.testing.assert_array_equal(est.predict(X), expected_classes[ref.predict(X)])
    assert 0.0 <= est.score(X, y) <= 1.0
