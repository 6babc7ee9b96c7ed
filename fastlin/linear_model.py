"""The five linear estimators: one SGD loop (``fastlin._base``) with the loss
fixed, over the kernels of ``backend`` (``fastlin._linear_fast`` or the NumPy
reference ``fastlin.reference.linear``, same functions, same signatures).

Every model scores a sample as s = x W + b with W (m, c) and b (c,) (c = 1
except for the multi-class models) and minimises the mean objective

    J(W, b) = (1/n) Σ_i w_i l(s_i, y_i) + (α/2) ||W||²

(w_i the sample weights, the intercept unpenalised; docs/math.md derives each
loss). One SGD step on a batch B (one sample when ``batch_size=1``, all of
them when ``batch_size=None``), with t the step count over the whole fit:

    η_t = η₀ ("constant"), η₀ / t^power_t ("invscaling"),
          1 / (α (t₀ + t − 1)) with t₀ = α^(−3/4) ("optimal"),
          or η₀ divided by 5 between epochs ("adaptive", see below)
    W ← W − η_t [ (1/|B|) Σ_{i∈B} w_i x_iᵀ ∂l/∂s_i + α′ W ]
    b ← b − η_t   (1/|B|) Σ_{i∈B} w_i ∂l/∂s_i                (if fit_intercept)

with α′ = min(α, 1/η_t): the penalty shrinks W by the factor
max(0, 1 − η_t α), toward 0 and never past it, at any α. η₀ is
``learning_rate``, by default "auto": computed from the data and the loss's
curvature (each estimator's ``learning_rate`` says how; docs/math.md, "The
automatic step").

"optimal" is Bottou's schedule as in scikit-learn's SGDClassifier: t₀ makes
the first step η₁ = α^(−1/4), the step of its heuristic, and α must be > 0.
"adaptive" keeps η constant within an epoch; whenever the stopping rule
(``tol``, ``n_iter_no_change``) would end ``fit`` and η > 1e-6, it divides
η by 5 and restarts the count of epochs without improvement instead, so the
fit ends once that happens with η <= 1e-6 (``partial_fit``, and ``tol=None``,
keep η₀).

With ``average=True`` the published ``coef_``/``intercept_`` are the mean of
the weights after every step, W̄ ← W̄ + (W − W̄) / t; the running weights are
kept to continue from (``partial_fit``, ``warm_start``). With
``average=a`` (an int > 1), counting the samples the fit has seen (over
epochs and ``partial_fit`` calls), W̄ is the mean of the weights after every
step whose batch ends at sample a or later (for ``batch_size=1``: after
samples a, a + 1, ..., as in scikit-learn); until the first such step
``coef_`` is the running weights. ``average=1`` is ``average=True``,
``average=0`` is ``False``.

The classifiers default to per-sample steps averaged (``batch_size=1,
average=True``): at the constant automatic step the averaged weights settle
where the running ones keep moving, which on the data sets scikit-learn
ships reached scikit-learn's best held-out accuracy in fewer epochs than
minibatches of 32 (bench/RESULTS.md, "Time to accuracy").
LinearRegression keeps minibatches of 32 without averaging.
"""
import numpy as np

from . import _losses
from ._auto_step import curvature_radius, linear_learning_rate
from ._base import (SGDEstimator, _all_finite, _is_int, _to_numeric, change_space, check_param,
                    dask_aware, prior_loss, row_blocks, to_original_space, to_standardized_space)
from ._numeric import affine_scores, log_sigmoid, log_softmax, margin, sigmoid, softmax
from .reference import linear as reference_linear
from .reference.losses import get_loss

_COMMON_PARAMS = """
    learning_rate : "auto" or float, default="auto"
        The step size η₀: a float > 0, or "auto" for
{auto_rule}
        with z_i the rows the kernel trains on (standardized with
        ``standardize=True``), w_i the training weights and the 1 counting
        the intercept (0 with ``fit_intercept=False``); docs/math.md, "The
        automatic step", derives it; with batches smaller than the data also
        η₀ ≤ 0.1 / α (a strong penalty's stochastic noise). ``fit`` and the
        first ``partial_fit`` compute it, later ``partial_fit`` calls keep it; ``learning_rate_``
        reports it. "invscaling" and "adaptive" start from it; "optimal"
        uses no η₀.
    learning_rate_schedule : {{"constant", "invscaling", "optimal", "adaptive"}}, \
default="constant"
        η_t = η₀; η₀ / t^power_t with t the step count; 1 / (α (t₀ + t − 1))
        (needs α > 0; η₀ unused); or η₀ divided by 5 whenever the loss stops
        improving (see the module docstring).
    power_t : float, default=0.5
        Exponent of the "invscaling" schedule.
    max_iter : int, default=1000
        Maximum number of epochs (passes over the data) in ``fit``.
    tol : float or None, default={tol}
        Stopping rule, relative to the loss (scale-free): an epoch improves
        when its training loss is below best − tol · L₀ (best: the lowest
        epoch loss so far; L₀: the loss of the best constant prediction, the
        class prior or y's mean; for the perceptrons, whose loss has none,
        |best|), and ``fit`` stops after ``n_iter_no_change`` epochs in a
        row without improvement. With
        ``early_stopping`` it applies to the validation score instead, as in
        scikit-learn: an epoch improves when its score reaches best + tol.
        ``None`` disables it (exactly ``max_iter`` epochs, no ``max_iter``
        warning). Whatever stopped it, a fit that ends with a training loss
        no better than the best constant prediction's (the class prior, or
        y's mean), or that gave back over a quarter of its best epoch's gain
        over that (with ``average``, judged by the average's own training
        loss), or (the perceptrons) with a training accuracy no better
        than the most frequent class's share, warns with a
        ``ConvergenceWarning`` naming the likely causes; its parameters are
        the last epoch's, not the best epoch's (docs/math.md, "Training").
    n_iter_no_change : int, default=5
        See ``tol``: the fit stops at the n-th epoch in a row without
        improvement, as scikit-learn's SGDClassifier does.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows (stratified by class for
        the classifiers; drawn from ``random_state``), train on the others,
        score the held-out rows after every epoch (accuracy, or R² for
        LinearRegression, weighted by ``sample_weight``) and stop when that
        score has not improved by ``tol`` for ``n_iter_no_change`` epochs;
        the parameters of the best epoch's score are restored. X itself is
        not copied (the kernels train on the training rows' indices); the
        held-out rows are, once (ceil(validation_fraction · n_samples) rows).
        Not for ``partial_fit`` (a ValueError) nor a dask X.
    validation_fraction : float, default=0.1
        The share of the rows held out with ``early_stopping``, in (0, 1):
        ceil(validation_fraction · n_samples) rows.
    batch_size : int or None, default={batch_size}
        1: per-sample SGD; k: minibatches of k consecutive samples of the
        (shuffled) order; None: full-batch gradient descent (one step per
        epoch).
    alpha : float, default={alpha}
        L2 penalty strength α (the intercept is not penalised).
    fit_intercept : bool, default=True
        Learn b; with False, b stays at its initial value (0, or
        ``intercept_init``).
    shuffle : bool, default=True
        Draw a new sample order every epoch (from ``random_state``).
    random_state : int, numpy Generator, RandomState or None, default=None
        Seeds the shuffling once per ``fit``: the same seed and data give
        identical results on either backend. A Generator is used as it is, not
        copied: ``fit`` and the first ``partial_fit`` draw from it and so
        advance the caller's generator (two fits given one Generator differ;
        an int repeats a fit exactly); later ``partial_fit`` calls draw from
        the estimator's copy and leave it as it is. A RandomState gives one
        draw, the seed of a new Generator.
    warm_start : bool, default=False
        ``fit`` starts from the previous fit's running weights (the step
        count, averages and ``loss_curve_`` restart).
    verbose : int, default=0
        With 1, print "epoch N, loss L, elapsed S s" after every epoch (S
        counts from the start of the call).
    average : bool or int, default={average}
        Publish the averaged weights W̄; an int a > 1 starts averaging once
        the fit has seen a samples (see the module docstring).
    standardize : bool, default=True
        Train on the standardized features z = (x − μ) / σ (μ, σ the
        weighted mean and standard deviation of each feature over the
        training X, σ = 0 taken as 1), inside the kernels: X is never
        copied. LinearRegression also standardizes its target. ``coef_`` and
        ``intercept_`` are reported in the original units, so ``predict``
        takes raw X; α penalises the standardized weights. ``partial_fit``
        takes μ and σ from its first call and keeps them. False: plain SGD
        on X as given (docs/math.md).
    backend : {{"cython", "numpy"}}, default="cython"
        "cython": the compiled kernels; "numpy": the pure-NumPy reference.
    n_jobs : int or None, default=1
        Threads of one fit (the compiled kernels; the NumPy reference does
        not use it): 1 is the serial algorithm, exactly; None or -1 every
        core; k > 1 k threads. Full batch (``batch_size=None``): the gradient
        is summed over row chunks, one per thread, added in a fixed order:
        the same on every run for a fixed n_jobs, equal to n_jobs=1 to
        rounding. Per sample (``batch_size=1``): lock-free parallel SGD
        (Hogwild!), each thread stepping through its own slice of the
        shuffled order and adding its steps into the shared weights, so
        results vary from run to run (docs/math.md, "Threads"). Minibatches
        of other sizes, and the per-sample steps on a sparse X, train on one
        thread (a sparse X's full batch is split like a dense one's). Without OpenMP
        in the build, every value trains as 1 (a SerialFallbackWarning, once).
"""

_COMMON_ATTRS = """
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        The column names, when X was a pandas DataFrame with string column
        names; predicting on a DataFrame then needs the same columns in the
        same order (a ValueError otherwise).
    n_iter_ : int
        Number of epochs run (accumulates over ``partial_fit`` calls).
    learning_rate_ : float
        The step size η₀ the fit used: "auto"'s value, or ``learning_rate``.
    alpha_ : float
        The L2 penalty α the fit used (``alpha``).
    t_ : int
        Number of SGD steps taken.
    loss_curve_ : list of float
        Training loss per epoch: (1/n) Σ_i w_i l_i without the penalty, each
        l_i taken just before the step that uses sample i (for
        ``batch_size=None``, before the epoch's step); in y's units for
        LinearRegression whether or not it standardizes.
    scale_mean_ : ndarray of shape (n_features_in_,)
        μ, with ``standardize=True`` (absent otherwise): the weighted mean
        of each feature the model was trained with (over the training rows
        only, with ``early_stopping``).
    scale_std_ : ndarray of shape (n_features_in_,)
        σ, with ``standardize=True``: the weighted standard deviation of
        each feature (1 where it is 0).
    validation_scores_ : list of float or None
        With ``early_stopping``, the held-out score after every epoch
        (``loss_curve_`` is then the training rows' loss); None otherwise.
    best_validation_score_ : float or None
        With ``early_stopping``, the best of ``validation_scores_``, whose
        parameters the model has; None otherwise.

    Notes
    -----
    X of dtype float32 trains in float32 (parameters float32); any other
    numeric X becomes float64. A C-contiguous float32/float64 X (read-only
    arrays and memory maps included) is never copied; Fortran-ordered or
    strided input is copied once into C order. A ``fit`` that raises (bad
    input, or :class:`DivergenceError` when the loss or a weight becomes
    non-finite) leaves the estimator as it was before the call.
"""


_CLASS_WEIGHT_PARAM = """
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplying ``sample_weight``: a dict
        {label: weight} (labels left out weigh 1), or "balanced" for
        n_samples / (n_classes · count of the class in y) (``fit`` only:
        ``partial_fit`` needs a dict). None weighs every class 1."""


# the "auto" step of each model (docs/math.md, "The automatic step")
_AUTO_SQUARED = """\
        η₀ = 1 / (R + α), R the mean of the ``batch_size`` largest
        w_i (‖z_i‖² + 1) (their largest for ``batch_size=1``), at least half
        the largest, or the mean of all for the full batch: no batch's
        step can overshoot,"""
_AUTO_MEAN_ROW = """\
        R = (1/n) Σ_i w_i (‖z_i‖² + 1), the mean row (the loss's slope is
        bounded, so no step can diverge),"""
_AUTO_LOGISTIC = """\
        η₀ = 1 / (L R + α), L = 1/4 for "log_loss" and 0.0770 for
        "squared_error" (the largest |l''| of ½ (σ(s) − y)², at
        σ(s) = (15 − √33) / 24), and
""" + _AUTO_MEAN_ROW
_AUTO_PERCEPTRON = """\
        η₀ = 1 / (R + α) (L = 1: the loss is piecewise linear), and
""" + _AUTO_MEAN_ROW
_AUTO_SOFTMAX = """\
        η₀ = 1 / (R / 2 + α) (L = 1/2 bounds the softmax's curvature), and
""" + _AUTO_MEAN_ROW


def _doc(summary, auto_rule, batch_size, alpha, extra_params="", attrs="", average=False,
         tol="1e-3"):
    return (summary + "\n\n    Parameters\n    ----------" + extra_params
            + _COMMON_PARAMS.format(auto_rule=auto_rule, batch_size=batch_size,
                                    alpha=alpha, average=average, tol=tol)
            + "\n    Attributes\n    ----------" + attrs + _COMMON_ATTRS)


class _LinearSGD(SGDEstimator):
    """The linear models' state, epoch and prediction; subclasses fix the loss."""

    _kind = "linear"
    _loss = None

    def __init__(self, *, learning_rate, learning_rate_schedule, power_t, max_iter, tol,
                 n_iter_no_change, batch_size, alpha, fit_intercept, shuffle,
                 random_state, warm_start, verbose, average, backend, standardize,
                 early_stopping, validation_fraction, n_jobs):
        self.standardize = standardize
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.power_t = power_t
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.batch_size = batch_size
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.shuffle = shuffle
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.average = average
        self.backend = backend
        self.n_jobs = n_jobs

    def _check_model_params(self):
        if not isinstance(self.average, (bool, np.bool_)):
            if not _is_int(self.average):
                raise TypeError(f"average must be a bool or an integer >= 0, got "
                                f"{self.average!r}.")
            check_param("average", self.average, "int", low=0)
        check_param("fit_intercept", self.fit_intercept, "bool")

    def fit(self, X, y, sample_weight=None, *, coef_init=None, intercept_init=None):
        """Fit the model with up to ``max_iter`` epochs of (minibatch) SGD.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data. float32 trains in float32; other numbers in float64.
            A C-contiguous float32/float64 array is used without a copy.
        y : array-like of shape (n_samples,)
            Targets (any labels for a classifier).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights w_i of the objective's terms (a classifier
            multiplies them by ``class_weight``'s weight of each sample's
            class).
        coef_init : array-like, default=None
            The initial weights, shaped like ``coef_``: (n_features,) for
            LinearRegression, (1, n_features) or (n_features,) for the binary
            classifiers, (n_classes, n_features) for the multi-class ones.
            Given, they replace the zeros (and ``warm_start``'s weights).
        intercept_init : array-like, default=None
            The initial intercept, shaped like ``intercept_`` (a scalar is
            accepted for the single-output models).

        Returns
        -------
        self
        """
        init = None
        if coef_init is not None or intercept_init is not None:
            init = {"coef_init": coef_init, "intercept_init": intercept_init}
        return self._fit(X, y, sample_weight, classes=None, partial=False, init=init)

    def _set_initial_params(self, state, coef_init, intercept_init):
        """Start from ``coef_init``/``intercept_init`` (checked against the
        shapes of coef_/intercept_)."""
        W, b = state["W"], state["b"]
        m, c = W.shape
        single = c == 1 and not self._multiclass
        # coef_init and intercept_init are in the original space: set them
        # there, then return to the standardized one
        stats = state["stats"]
        if stats is not None:
            W_raw, b_raw = to_original_space(W, b, stats)
            W, b = W_raw.astype(W.dtype), b_raw.astype(b.dtype)
        if coef_init is not None:
            C = _to_numeric(coef_init, "coef_init")
            shapes = [(m,), (1, m)] if single else [(c, m)]
            if self._estimator_type == "regressor":
                shapes = [(m,)]
            if C.shape not in shapes:
                raise ValueError(f"coef_init has shape {C.shape}; {type(self).__name__} "
                                 f"expects {' or '.join(map(str, shapes))} for this X and y.")
            W[...] = C.reshape(c, m).T
        if intercept_init is not None:
            B = _to_numeric(intercept_init, "intercept_init")
            shapes = [(), (1,)] if c == 1 else [(c,)]
            if B.shape not in shapes:
                raise ValueError(f"intercept_init has shape {B.shape}; {type(self).__name__} "
                                 f"expects {' or '.join(map(str, shapes))} for this X and y.")
            b[...] = B.reshape(c)
        if not (_all_finite(W) and _all_finite(b)):
            raise ValueError("coef_init and intercept_init must be finite (in the "
                             f"training dtype {W.dtype}).")
        if stats is not None:
            W_std, b_std = to_standardized_space(W, b, stats)
            W, b = state["W"], state["b"]
            W[...] = W_std
            b[...] = b_std
        if state["W_avg"] is not None:
            state["W_avg"][...] = W
            state["b_avg"][...] = b

    def _n_outputs(self, classes):
        return len(classes) if self._multiclass else 1

    def _auto_learning_rate(self, X, sw, state, batch):
        """η₀ = 1 / (L R + α): L the loss's curvature bound (``fastlin._losses``),
        R the bound of the batches' mean w_i (‖z_i‖² + [fit_intercept])."""
        loss = _losses.get(self._loss)
        R = curvature_radius(X, sw, state["stats"], batch, 1.0 if self.fit_intercept else 0.0,
                             worst_case=not loss.bounded_slope,
                             n_threads=state.get("pass_threads", 1))
        return linear_learning_rate(loss.curvature, R, state["alpha"],
                                    stochastic=batch < X.shape[0])

    def _init_state(self, n_features, n_outputs, dtype, rng, continue_from):
        """Working copies of the parameters: zeros, or the previous running
        weights when continuing."""
        if continue_from is None:
            W = np.zeros((n_features, n_outputs), dtype=dtype)
            b = np.zeros(n_outputs, dtype=dtype)
        else:
            W = np.array(continue_from._W, dtype=dtype, order="C")
            b = np.array(continue_from._b, dtype=dtype)
        state = {"W": W, "b": b, "W_avg": None, "b_avg": None}
        if self.average:
            # partial_fit continues the running mean; a fresh fit restarts it
            # (its first step sets W̄ = W whatever W̄ held).
            prev = getattr(continue_from, "_W_avg", None)
            state["W_avg"] = W.copy() if prev is None else np.array(prev, dtype=dtype)
            prev = getattr(continue_from, "_b_avg", None)
            state["b_avg"] = b.copy() if prev is None else np.array(prev, dtype=dtype)
            # average=a > 1: samples seen and steps averaged so far
            state["n_seen"] = getattr(continue_from, "_n_seen", 0)
            state["n_avg"] = getattr(continue_from, "_n_avg", 0)
        return state

    def _state_arrays(self, state):
        return [state[k] for k in ("W", "b", "W_avg", "b_avg") if state[k] is not None]

    def _change_space(self, state, old, new):
        """The continued weights (and averages) from the old statistics' space to the new."""
        change_space(state["W"], state["b"], old, new)
        if state["W_avg"] is not None:
            change_space(state["W_avg"], state["b_avg"], old, new)

    def _epoch(self, module, X, y, sw, state, order, batch, t):
        """One epoch; with ``average=a`` > 1 split at the first step whose
        batch ends at sample a or later: the kernel runs without averaging
        before it and with it from there on."""
        start = int(self.average)
        if start <= 1:
            return self._kernel_epoch(module, X, y, sw, state, order, batch, t)
        if t == 0:          # a fit's first epoch: nothing seen or averaged yet
            state["n_seen"] = state["n_avg"] = 0
        n_order = X.shape[0] if order is None else len(order)
        seen = state["n_seen"]
        # batch k (0-based) of the epoch ends at sample seen + (k + 1) · batch
        first = max(0, -(-(start - seen) // batch) - 1)
        split = min(first * batch, n_order)
        loss = 0.0
        if split > 0:
            part = None if order is None else order[:split]
            plain = dict(state, W_avg=None, b_avg=None)
            part_loss, t = self._kernel_epoch(module, X, y, sw, plain, part, batch, t)
            loss += part_loss
        if split < n_order:
            # from zeros, the kernel's running mean over steps t0+1..t is
            # (Σ W_k) / t: the sum, combined here with the earlier average
            part = None if order is None else order[split:]
            sums = dict(state, W_avg=np.zeros_like(state["W"]), b_avg=np.zeros_like(state["b"]))
            t0 = t
            part_loss, t = self._kernel_epoch(module, X, y, sw, sums, part, batch, t)
            loss += part_loss
            n_avg = state["n_avg"] + (t - t0)
            for key in ("W_avg", "b_avg"):
                prev = state["n_avg"] * state[key].astype(np.float64)
                state[key][...] = (prev + t * sums[key].astype(np.float64)) / n_avg
            state["n_avg"] = n_avg
        state["n_seen"] = seen + n_order
        return loss, t

    def _epochs_in_one_call(self, module):
        # the average's split epoch (average=a > 1) runs through _epoch
        return hasattr(module, "sgd_epochs") and int(self.average) <= 1

    def _epochs(self, module, X, y, sw, state, orders, batch, t):
        losses, t = module.sgd_epochs(X, y, state["W"], state["b"], orders, self._loss,
                                      **self._step_arguments(module, sw, state, batch, t))
        return self._in_y_units(losses, state), t

    def _kernel_epoch(self, module, X, y, sw, state, order, batch, t):
        # the kernel takes every step, a full batch (batch = n) included
        loss, t = module.sgd_epoch(X, y, state["W"], state["b"], order, self._loss,
                                   **self._step_arguments(module, sw, state, batch, t))
        return self._in_y_units(loss, state), t

    def _step_arguments(self, module, sw, state, batch, t):
        """The keyword arguments of the kernels' ``sgd_epoch``/``sgd_epochs``."""
        return dict(eta0=state["eta0"], batch_size=batch, alpha=state["alpha"],
                    fit_intercept=self.fit_intercept, schedule=self.learning_rate_schedule,
                    power_t=self.power_t, t=t, sample_weight=sw, W_avg=state["W_avg"],
                    b_avg=state["b_avg"], n_threads=state["n_threads"],
                    **self._kernel_standardization(state), **_checked_input(module))

    @staticmethod
    def _in_y_units(loss, state):
        """A standardized target's loss (or losses) in y's units: σ_y² times."""
        stats = state["stats"]
        if stats is not None and "y_scale" in stats:
            return loss * stats["y_scale"] ** 2
        return loss

    def _model(self, state):
        """The published (W (m, c), b (c,)) of ``state``: the averaged weights
        once averaging has started, else the running ones; in the original
        space of X (and y)."""
        W, b = state["W"], state["b"]
        if self._averaged(state):
            W, b = state["W_avg"], state["b_avg"]
        if state["stats"] is not None:
            W_raw, b_raw = to_original_space(W, b, state["stats"])
            W, b = W_raw.astype(W.dtype), b_raw.astype(b.dtype)
        return W, b

    def _averaged(self, state):
        """Whether the published model is the average (averaging has started)."""
        return bool(self.average) and (int(self.average) <= 1 or state["n_avg"] > 0)

    def _published_loss(self, state, X, y, sw):
        """(1/n) Σ_i w_i l_i of the averaged weights over the training rows
        (in the trained space, y's units as ``loss_curve_``), a block of rows
        at a time (``row_blocks``: no copy of X); None without averaging."""
        if not self._averaged(state):
            return None
        stats = state["stats"] or {}
        model = dict(W=state["W_avg"], b=state["b_avg"], loss=self._loss,
                     mean=stats.get("mean"), scale=stats.get("scale"))
        if hasattr(X, "data_loss"):         # dask: each chunk's sum on its worker
            total = X.data_loss(**model)
        else:
            total = summed_loss(X, y, sw, **model)
        return float(self._in_y_units(total / X.shape[0], state))

    def _publish(self, state):
        self._W, self._b = state["W"], state["b"]
        if self.average:
            self._W_avg, self._b_avg = state["W_avg"], state["b_avg"]
            self._n_seen, self._n_avg = state["n_seen"], state["n_avg"]
        else:
            for name in ("_W_avg", "_b_avg", "_n_seen", "_n_avg"):
                self.__dict__.pop(name, None)
        W, b = self._model(state)
        # sklearn's shapes, as views of the (m, c) weights
        self.coef_ = W[:, 0] if self._estimator_type == "regressor" else W.T
        self.intercept_ = b

    def _state_predictor(self, state):
        """X -> what ``predict`` would give with the parameters in ``state``:
        ŷ for the regressor, the class index for a classifier (the model in
        X's space is formed once, here)."""
        W, b = self._model(state)
        regressor = self._estimator_type == "regressor"

        def predict(X):
            S = affine_scores(X, W, b)
            if regressor:
                return S[:, 0]
            if S.shape[1] == 1:
                return (S[:, 0] >= 0).astype(np.intp)
            return S.argmax(axis=1)
        return predict

    def _baseline_loss(self, y, sw, n_outputs):
        """The training loss of the best constant score, a mean over the rows
        weighted as the training loss is (the score is s = 0 when there is no
        intercept, except for LinearRegression standardizing y, whose model
        always has y's mean): ½ Var(y) around the weighted mean (or ½ E y²);
        the class prior's cross-entropy (or log c); ½ p (1 − p) for the
        logistic squared loss, p the positive share (or 1/8); None for the
        perceptrons."""
        n = len(y)
        w = None if sw is None else np.asarray(sw, dtype=np.float64)
        weight = 1.0 if w is None else float(w.sum()) / n      # (1/n) Σ w
        if self._loss == "squared_error":
            y = np.asarray(y, dtype=np.float64)
            centre = np.average(y, weights=w) if self.fit_intercept or self.standardize else 0.0
            return float(0.5 * np.average((y - centre) ** 2, weights=w) * weight)
        if self._loss in ("log_loss", "softmax_cross_entropy"):
            n_classes = max(n_outputs, 2)
            if not self.fit_intercept:
                return float(np.log(n_classes) * weight)
            return prior_loss(y, w, n_classes, n)
        if self._loss == "logistic_squared_error":
            if not self.fit_intercept:
                return 0.125 * weight
            p = float(np.average(y, weights=w))
            return 0.5 * p * (1 - p) * weight
        return None

    def _scores(self, X):
        """S = X W + b (n, c) from the published weights: one product, and
        never NaN (a score beyond the dtype's range is ±inf, its sign)."""
        X = self._validate_for_predict(X)
        W = self.coef_[:, None] if self.coef_.ndim == 1 else self.coef_.T
        return affine_scores(X, W, self.intercept_)


def summed_loss(X, y, sw, W, b, loss, mean=None, scale=None):
    """Σ_i w_i l(z_i W + b, y_i) over X's rows (z_i standardized by mean and
    scale where given), a block of ``row_blocks`` at a time: the scores come
    from the model for raw rows in X's dtype, so that no block of X is
    converted (a float32 X would otherwise be copied to float64 a block at a
    time)."""
    W_raw, b_raw = reference_linear.raw_space(W, b, mean, scale)
    W_raw = W_raw.astype(X.dtype, copy=False)
    loss_fn = get_loss(loss)
    total = 0.0
    for start, stop, block in row_blocks(X):
        S = np.asarray(block @ W_raw, dtype=np.float64) + b_raw
        l, _ = loss_fn(S, y[start:stop])
        total += float(l.sum() if sw is None else l @ np.asarray(sw[start:stop], np.float64))
    return total


def _checked_input(module):
    """The kernel's check_input=False where it has one (the CSR kernel): the
    fit has validated X's structure and the statistics once (check_X), so
    the epochs skip re-reading every index."""
    return {"check_input": False} if getattr(module, "ACCEPTS_CHECK_INPUT", False) else {}


class _LinearClassifier(_LinearSGD):
    _estimator_type = "classifier"

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over (X, y), continuing from the current state (the step
        count t, the averages and the shuffling generator carry over).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            After the first call, converted to the parameters' dtype.
        y : array-like of shape (n_samples,)
            Targets.
        classes : array-like of shape (n_classes,), default=None
            Every label the estimator will see; required on the first call.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples' loss terms.

        Returns
        -------
        self
        """
        return self._partial_fit(X, y, sample_weight, classes)

    @dask_aware
    def decision_function(self, X):
        """The scores s = x W + b.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Checked like the training data, in the dtype of the parameters.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            (n,) for the single-output models and for two classes (s₁ − s₀ for
            the multi-class models, 0 where s₁ = s₀, both ±inf included);
            > 0 means ``classes_[1]``. A score beyond the dtype's range is
            ±inf (its sign), never NaN.
        """
        S = self._scores(X)
        if S.shape[1] == 1:
            return S[:, 0]
        if S.shape[1] == 2:
            return margin(S)
        return S


class _BinaryClassifier(_LinearClassifier):
    """Two classes, any labels: classes_[0] -> target 0, classes_[1] -> 1."""

    _multiclass = False

    @dask_aware
    def predict(self, X):
        """The class of each sample: classes_[1] where s >= 0, else classes_[0].

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Checked like the training data, in the dtype of the parameters.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        positive = self._scores(X)[:, 0] >= 0
        return self.classes_[positive.astype(np.intp)]


class _MulticlassClassifier(_LinearClassifier):
    """c >= 2 classes, one output per class (two classes keep two outputs)."""

    _multiclass = True

    @dask_aware
    def predict(self, X):
        """The class of each sample: classes_[argmax_j s_j] (the lowest index
        on ties).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Checked like the training data, in the dtype of the parameters.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        best = self._scores(X).argmax(axis=1)
        return self.classes_[best]


class LinearRegression(_LinearSGD):
    _estimator_type = "regressor"
    _loss = "squared_error"

    __doc__ = _doc(
        """Least-squares linear regression trained by SGD.

    Model ŷ = x w + b; loss l = ½ (ŷ − y)², so ∂l/∂s = ŷ − y and a step is

        w ← w − η_t [ (1/|B|) Σ_{i∈B} w_i (ŷ_i − y_i) x_i + α w ],
        b ← b − η_t (1/|B|) Σ_{i∈B} w_i (ŷ_i − y_i).
""", _AUTO_SQUARED, "32", "0.0", tol="1e-4",
        attrs="""
    coef_ : ndarray of shape (n_features,)
    intercept_ : ndarray of shape (1,)""")

    def __init__(self, *, learning_rate="auto", learning_rate_schedule="constant", power_t=0.5,
                 max_iter=1000, tol=1e-4, n_iter_no_change=5, batch_size=32, alpha=0.0,
                 early_stopping=False, validation_fraction=0.1,
                 fit_intercept=True, shuffle=True, random_state=None, warm_start=False,
                 verbose=0, average=False, standardize=True, backend="cython", n_jobs=1):
        super().__init__(
            learning_rate=learning_rate, learning_rate_schedule=learning_rate_schedule,
            power_t=power_t, max_iter=max_iter, tol=tol, n_iter_no_change=n_iter_no_change,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            batch_size=batch_size, alpha=alpha, fit_intercept=fit_intercept, shuffle=shuffle,
            random_state=random_state, warm_start=warm_start, verbose=verbose,
            average=average, backend=backend, standardize=standardize, n_jobs=n_jobs)

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing from the current state (the step
        count t, the averages and the shuffling generator carry over).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            After the first call, converted to the parameters' dtype.
        y : array-like of shape (n_samples,)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples' loss terms.

        Returns
        -------
        self
        """
        return self._partial_fit(X, y, sample_weight)

    @dask_aware
    def predict(self, X):
        """The prediction ŷ = X w + b.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Checked like the training data, in the dtype of the parameters.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self._scores(X)[:, 0]


class LogisticRegression(_BinaryClassifier):
    # the ``loss`` option -> the loss's name in fastlin._losses
    _LOSSES = _losses.options("LogisticRegression")

    __doc__ = _doc(
        """Binary logistic regression trained by SGD.

    Model P(y = classes_[1] | x) = h = σ(s), s = x w + b. Two losses:

    * ``loss="log_loss"`` (cross-entropy, convex):
      l = log(1 + e^s) − y s, ∂l/∂s = h − y;
    * ``loss="squared_error"``: l = ½ (h − y)², ∂l/∂s = (h − y) h (1 − h)
      (not convex; slow where h saturates).

    A step is w ← w − η_t [ (1/|B|) Σ_{i∈B} w_i (∂l/∂s_i) x_i + α w ] and
    b ← b − η_t (1/|B|) Σ_{i∈B} w_i ∂l/∂s_i. Only binary classification is
    supported (use SoftmaxRegression for more classes).
""", _AUTO_LOGISTIC, "1", "0.0001", average=True,
        extra_params="""
    loss : {"log_loss", "squared_error"}, default="log_loss"
        The loss of h = σ(s) against the 0/1 target.""" + _CLASS_WEIGHT_PARAM,
        attrs="""
    classes_ : ndarray of shape (2,)
    coef_ : ndarray of shape (1, n_features)
    intercept_ : ndarray of shape (1,)""")

    def __init__(self, *, loss="log_loss", learning_rate="auto",
                 learning_rate_schedule="constant", power_t=0.5, max_iter=1000, tol=1e-3,
                 n_iter_no_change=5, batch_size=1, alpha=0.0001, fit_intercept=True,
                 early_stopping=False, validation_fraction=0.1,
                 shuffle=True, random_state=None, warm_start=False, verbose=0, average=True,
                 standardize=True, backend="cython", class_weight=None,
                 n_jobs=1):
        self.loss = loss
        self.class_weight = class_weight
        super().__init__(
            learning_rate=learning_rate, learning_rate_schedule=learning_rate_schedule,
            power_t=power_t, max_iter=max_iter, tol=tol, n_iter_no_change=n_iter_no_change,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            batch_size=batch_size, alpha=alpha, fit_intercept=fit_intercept, shuffle=shuffle,
            random_state=random_state, warm_start=warm_start, verbose=verbose,
            average=average, backend=backend, standardize=standardize, n_jobs=n_jobs)

    @property
    def _loss(self):
        return self._LOSSES[self.loss]

    def _check_model_params(self):
        super()._check_model_params()
        check_param("loss", self.loss, "options", options=tuple(self._LOSSES))

    @dask_aware
    def predict_proba(self, X):
        """The class probabilities [1 − σ(s), σ(s)], computed from the score
        (no overflow for any s; s = ±inf gives [0, 1] or [1, 0]).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Checked like the training data, in the dtype of the parameters.

        Returns
        -------
        ndarray of shape (n_samples, 2)
            In the order of ``classes_``.
        """
        s = self._scores(X)[:, 0]
        return np.column_stack([sigmoid(-s), sigmoid(s)])

    @dask_aware
    def predict_log_proba(self, X):
        """The log class probabilities [log σ(−s), log σ(s)], computed from
        the score as −log(1 + e^(∓s)): accurate where a probability rounds
        to 0 or 1 (never log 0 of a rounded probability).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Checked like the training data, in the dtype of the parameters.

        Returns
        -------
        ndarray of shape (n_samples, 2)
            In the order of ``classes_``.
        """
        s = self._scores(X)[:, 0]
        return np.column_stack([log_sigmoid(-s), log_sigmoid(s)])


class Perceptron(_BinaryClassifier):
    _loss = "perceptron"

    __doc__ = _doc(
        """The binary perceptron (Rosenblatt), trained by SGD.

    Prediction h = [s >= 0] (classes_[1] when the score s = x w + b is >= 0,
    ties included); loss l = (h − y) s >= 0, zero unless the sample is
    misclassified; ∂l/∂s = h − y. With ``batch_size=1`` a step is the classic
    rule w ← w − η (h_i − y_i) x_i, b ← b − η (h_i − y_i), which changes the
    weights only on a mistake (plus the α w shrinkage when α > 0). By default
    the published weights are the average over all steps (the averaged
    perceptron, Freund & Schapire 1999), which generalises better than the
    last iterate; ``average=False`` gives the classic last iterate.

    The step depends on a comparison, so the two backends agree exactly
    only where their arithmetic is exact. With ``batch_size=1``, ``alpha=0``,
    the constant schedule, and X, the learning rate and any sample weights
    dyadic (integers times powers of two) such that every number the fit
    computes (products, partial sums of scores, weights) fits in 24 (float32)
    or 53 (float64) significant bits, they take the same steps, ties
    included, and the running weights (``coef_`` with ``average=False``) are
    equal bit for bit, the averaged ones equal to rounding. Otherwise they
    agree to rounding as long as no score comes within rounding of a
    decision boundary (s = 0); at such a score the backends (whose sums
    round differently: fused multiply-adds, another order) may decide
    differently and then take different steps.
""", _AUTO_PERCEPTRON, "1", "0.0", average=True, extra_params=_CLASS_WEIGHT_PARAM,
        attrs="""
    classes_ : ndarray of shape (2,)
    coef_ : ndarray of shape (1, n_features)
    intercept_ : ndarray of shape (1,)""")

    def __init__(self, *, learning_rate="auto", learning_rate_schedule="constant", power_t=0.5,
                 max_iter=1000, tol=1e-3, n_iter_no_change=5, batch_size=1, alpha=0.0,
                 early_stopping=False, validation_fraction=0.1,
                 fit_intercept=True, shuffle=True, random_state=None, warm_start=False,
                 verbose=0, average=True, standardize=True, backend="cython", class_weight=None,
                 n_jobs=1):
        self.class_weight = class_weight
        super().__init__(
            learning_rate=learning_rate, learning_rate_schedule=learning_rate_schedule,
            power_t=power_t, max_iter=max_iter, tol=tol, n_iter_no_change=n_iter_no_change,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            batch_size=batch_size, alpha=alpha, fit_intercept=fit_intercept, shuffle=shuffle,
            random_state=random_state, warm_start=warm_start, verbose=verbose,
            average=average, backend=backend, standardize=standardize, n_jobs=n_jobs)


class MulticlassPerceptron(_MulticlassClassifier):
    _loss = "multiclass_perceptron"

    __doc__ = _doc(
        """The multi-class perceptron: one weight vector per class.

    Prediction ŷ = argmax_j s_j with s = x W + b, W (n_features, c) (the
    lowest index on ties); loss l = s_ŷ − s_y >= 0, ∂l/∂s_v = [v = ŷ] − [v = y].
    With ``batch_size=1`` a mistake (ŷ_i ≠ y_i) moves w_ŷ ← w_ŷ − η x_i and
    w_y ← w_y + η x_i (and the intercepts by ∓η); nothing else changes.
    By default the published weights are the average over all steps (the
    averaged perceptron); ``average=False`` gives the last iterate. With two
    classes the model keeps two outputs (c = 2); ``decision_function`` then
    returns s₁ − s₀.

    The step depends on a comparison, so the two backends agree exactly
    only where their arithmetic is exact. With ``batch_size=1``, ``alpha=0``,
    the constant schedule, and X, the learning rate and any sample weights
    dyadic (integers times powers of two) such that every number the fit
    computes (products, partial sums of scores, weights) fits in 24 (float32)
    or 53 (float64) significant bits, they take the same steps, ties
    included, and the running weights (``coef_`` with ``average=False``) are
    equal bit for bit, the averaged ones equal to rounding. Otherwise they
    agree to rounding as long as no score comes within rounding of a
    decision boundary (two top scores equal); at such a score the backends
    (whose sums round differently: fused multiply-adds, another order) may
    decide differently and then take different steps.
""", _AUTO_PERCEPTRON, "1", "0.0", average=True, extra_params=_CLASS_WEIGHT_PARAM,
        attrs="""
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (n_classes, n_features)
    intercept_ : ndarray of shape (n_classes,)""")

    def __init__(self, *, learning_rate="auto", learning_rate_schedule="constant", power_t=0.5,
                 max_iter=1000, tol=1e-3, n_iter_no_change=5, batch_size=1, alpha=0.0,
                 early_stopping=False, validation_fraction=0.1,
                 fit_intercept=True, shuffle=True, random_state=None, warm_start=False,
                 verbose=0, average=True, standardize=True, backend="cython", class_weight=None,
                 n_jobs=1):
        self.class_weight = class_weight
        super().__init__(
            learning_rate=learning_rate, learning_rate_schedule=learning_rate_schedule,
            power_t=power_t, max_iter=max_iter, tol=tol, n_iter_no_change=n_iter_no_change,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            batch_size=batch_size, alpha=alpha, fit_intercept=fit_intercept, shuffle=shuffle,
            random_state=random_state, warm_start=warm_start, verbose=verbose,
            average=average, backend=backend, standardize=standardize, n_jobs=n_jobs)


class SoftmaxRegression(_MulticlassClassifier):
    _loss = "softmax_cross_entropy"

    __doc__ = _doc(
        """Softmax (multinomial logistic) regression trained by SGD.

    Model P(y = classes_[j] | x) = softmax(s)_j with s = x W + b, W
    (n_features, c); loss l = log Σ_k e^(s_k) − s_y (computed with log-sum-exp),
    ∂l/∂s = softmax(s) − onehot(y). A step is
    W ← W − η_t [ (1/|B|) Σ_{i∈B} w_i x_iᵀ (softmax(s_i) − onehot(y_i)) + α W ].
    With two classes the model keeps two outputs (c = 2);
    ``decision_function`` then returns s₁ − s₀.
""", _AUTO_SOFTMAX, "1", "0.0001", average=True, extra_params=_CLASS_WEIGHT_PARAM,
        attrs="""
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (n_classes, n_features)
    intercept_ : ndarray of shape (n_classes,)""")

    def __init__(self, *, learning_rate="auto", learning_rate_schedule="constant", power_t=0.5,
                 max_iter=1000, tol=1e-3, n_iter_no_change=5, batch_size=1, alpha=0.0001,
                 early_stopping=False, validation_fraction=0.1,
                 fit_intercept=True, shuffle=True, random_state=None, warm_start=False,
                 verbose=0, average=True, standardize=True, backend="cython", class_weight=None,
                 n_jobs=1):
        self.class_weight = class_weight
        super().__init__(
            learning_rate=learning_rate, learning_rate_schedule=learning_rate_schedule,
            power_t=power_t, max_iter=max_iter, tol=tol, n_iter_no_change=n_iter_no_change,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            batch_size=batch_size, alpha=alpha, fit_intercept=fit_intercept, shuffle=shuffle,
            random_state=random_state, warm_start=warm_start, verbose=verbose,
            average=average, backend=backend, standardize=standardize, n_jobs=n_jobs)

    @dask_aware
    def predict_proba(self, X):
        """The class probabilities softmax(s) (max-subtracted; where scores
        are ±inf, the limit: the maximal classes share 1 equally).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Checked like the training data, in the dtype of the parameters.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            In the order of ``classes_``.
        """
        return softmax(self._scores(X))

    @dask_aware
    def predict_log_proba(self, X):
        """The log class probabilities, log softmax(s) = s − max − log Σ e^(s − max):
        accurate where a probability rounds to 0 (never log 0 of a rounded
        probability).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Checked like the training data, in the dtype of the parameters.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            In the order of ``classes_``.
        """
        return log_softmax(self._scores(X))
