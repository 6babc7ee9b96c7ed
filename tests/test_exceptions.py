"""fastlin's errors and warnings, with and without scikit-learn.

* ``except fastlin.NotFittedError`` catches what fastlin raises; once
  scikit-learn is imported (before or after fastlin) so does
  ``except sklearn.exceptions.NotFittedError``, and scikit-learn's warning
  filters match fastlin's ConvergenceWarning and DataConversionWarning.
* Every one of them survives pickling (also into a process where
  scikit-learn was never imported, and back).
* fastlin imports, fits and raises without scikit-learn, and never imports it.

The in-process tests run with scikit-learn imported; the rest run in child
processes that control what is imported, in which order.
"""
import copy
import pickle
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import sklearn.exceptions

import fastlin
from conftest import child_env
from fastlin import (ConvergenceWarning, DivergenceError, LinearRegression, NotFittedError,
                     SoftmaxRegression)
from fastlin._base import DataConversionWarning


def _not_fitted():
    try:
        LinearRegression().predict(np.ones((2, 3)))
    except NotFittedError as exc:
        return exc
    raise AssertionError("predict before fit did not raise NotFittedError")


def _convergence_warning():
    X = np.random.default_rng(0).normal(size=(50, 3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        SoftmaxRegression(max_iter=1, random_state=0).fit(X, X[:, 0] > 0)
    [w] = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    return w


def _round_trip(obj):
    return pickle.loads(pickle.dumps(obj))


# --------------------------------------------------------------------------
# in this process (scikit-learn imported above)

def test_not_fitted_error_is_fastlins_and_sklearns():
    exc = _not_fitted()
    assert isinstance(exc, (NotFittedError, ValueError, AttributeError))
    assert isinstance(exc, sklearn.exceptions.NotFittedError)
    with pytest.raises(sklearn.exceptions.NotFittedError, match="not fitted yet"):
        LinearRegression().predict(np.ones((2, 3)))
    assert type(exc).__name__ == "NotFittedError"
    assert type(_not_fitted()) is type(exc)              # one class, made once


@pytest.mark.parametrize("clone", [_round_trip, copy.copy, copy.deepcopy])
def test_not_fitted_error_survives_pickling_and_copying(clone):
    exc = _not_fitted()
    exc.note = "kept"
    got = clone(exc)
    assert type(got) is type(exc)
    assert got.args == exc.args and got.note == "kept"
    assert isinstance(got, NotFittedError) and isinstance(got, sklearn.exceptions.NotFittedError)


def test_convergence_warning_is_fastlins_and_sklearns():
    w = _convergence_warning()
    assert issubclass(w.category, ConvergenceWarning)
    assert issubclass(w.category, sklearn.exceptions.ConvergenceWarning)
    X = np.random.default_rng(0).normal(size=(50, 3))
    for category in (ConvergenceWarning, sklearn.exceptions.ConvergenceWarning):
        with warnings.catch_warnings():
            warnings.simplefilter("error", category)
            with pytest.raises(category, match="max_iter"):
                SoftmaxRegression(max_iter=1, random_state=0).fit(X, X[:, 0] > 0)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            warnings.simplefilter("ignore", category)      # a filter on either silences it
            SoftmaxRegression(max_iter=1, random_state=0).fit(X, X[:, 0] > 0)
    got = _round_trip(w.message)
    assert isinstance(got, sklearn.exceptions.ConvergenceWarning) and got.args == w.message.args


def test_data_conversion_warning_is_fastlins_and_sklearns():
    X = np.random.default_rng(0).normal(size=(20, 2))
    for category in (DataConversionWarning, sklearn.exceptions.DataConversionWarning):
        with pytest.warns(category, match="column-vector y"):
            LinearRegression(max_iter=2, tol=None).fit(X, X[:, :1])
    assert _round_trip(DataConversionWarning("x")).args == ("x",)


def test_divergence_error_survives_pickling():
    exc = DivergenceError("diverged")
    got = _round_trip(exc)
    assert type(got) is DivergenceError and got.args == ("diverged",)
    assert isinstance(got, ValueError)


def test_the_public_classes_stay_fastlins():
    """What fastlin exports is its own class (scikit-learn's only joins when
    one is created), documented where it is defined."""
    for cls in (NotFittedError, ConvergenceWarning, DivergenceError):
        assert getattr(fastlin, cls.__name__) is cls
        assert cls.__module__.startswith("fastlin")
        assert not issubclass(cls, (sklearn.exceptions.NotFittedError,
                                    sklearn.exceptions.ConvergenceWarning))


# --------------------------------------------------------------------------
# in child processes: import order, no scikit-learn, pickles across processes

CHILD = textwrap.dedent("""
    import pickle, sys, warnings
    import numpy as np

    order, action = sys.argv[1], sys.argv[2]
    if order == "without-sklearn":
        sys.modules["sklearn"] = None            # import sklearn fails: as if not installed
    if order == "sklearn-first":
        import sklearn.exceptions
    import fastlin
    from fastlin import ConvergenceWarning, LinearRegression, NotFittedError, SoftmaxRegression
    from fastlin._base import DataConversionWarning
    if order != "sklearn-first":
        assert "sklearn.exceptions" not in sys.modules, "importing fastlin imported scikit-learn"
    if order == "fastlin-first":
        import sklearn.exceptions
    sk = sys.modules.get("sklearn.exceptions")

    def not_fitted():
        try:
            LinearRegression().predict(np.ones((2, 3)))
        except NotFittedError as exc:
            return exc

    if action == "check":
        X = np.random.default_rng(0).normal(size=(40, 3))
        est = SoftmaxRegression(max_iter=2, random_state=0, tol=None).fit(X, X[:, 0] > 0)
        assert est.score(X, X[:, 0] > 0) > 0.5
        exc = not_fitted()
        assert isinstance(exc, (ValueError, AttributeError))
        got = pickle.loads(pickle.dumps(exc))
        assert type(got) is type(exc) and got.args == exc.args
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            SoftmaxRegression(max_iter=1, random_state=0).fit(X, X[:, 0] > 0)
            LinearRegression(max_iter=1, tol=None).fit(X, X[:, :1])
        categories = [w.category for w in caught]
        assert any(issubclass(c, ConvergenceWarning) for c in categories), categories
        assert any(issubclass(c, DataConversionWarning) for c in categories), categories
        if sk is not None:
            try:
                LinearRegression().predict(np.ones((2, 3)))
            except sk.NotFittedError as caught_by_sklearn:
                assert isinstance(caught_by_sklearn, NotFittedError)
            assert isinstance(got, sk.NotFittedError)
            assert any(issubclass(c, sk.ConvergenceWarning) for c in categories), categories
            assert any(issubclass(c, sk.DataConversionWarning) for c in categories), categories
        print("sklearn" if sk is not None else "no sklearn", "OK")
        print(pickle.dumps(exc).hex())
    else:                                        # load the pickle in argv[3]
        got = pickle.loads(bytes.fromhex(sys.argv[3]))
        assert isinstance(got, NotFittedError) and "not fitted yet" in got.args[0]
        if sk is not None:
            assert isinstance(got, sk.NotFittedError)
        print("loaded", "with" if sk is not None else "without", "sklearn OK")
""")


def _child(order, action, *args):
    run = subprocess.run([sys.executable, "-c", CHILD, order, action, *args],
                         capture_output=True, text=True, timeout=120, env=child_env())
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout.strip()


def test_errors_and_warnings_whatever_was_imported_first():
    """In a process that imports scikit-learn before fastlin, one that
    imports it after, and one without it: fits work, errors and warnings are
    fastlin's (and scikit-learn's where it is imported), pickles round-trip;
    a pickle made with scikit-learn loads where it cannot be imported, and
    one made without it loads as scikit-learn's error where it is."""
    blobs = {}
    for order in ("sklearn-first", "fastlin-first", "without-sklearn"):
        status, blobs[order] = _child(order, "check").splitlines()
        assert status == ("no sklearn OK" if order == "without-sklearn" else "sklearn OK")
    assert _child("without-sklearn", "load", blobs["sklearn-first"]) == "loaded without sklearn OK"
    assert _child("fastlin-first", "load", blobs["without-sklearn"]) == "loaded with sklearn OK"
