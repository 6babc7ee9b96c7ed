"""MLPClassifier: the one-hidden-layer network (docs/math.md §7) trained by
minibatch SGD over ``fastlin._mlp_fast`` or the NumPy reference
``fastlin.reference.network`` (same ``sgd_epoch``)."""
import numpy as np

from ._auto_step import curvature_radius, linear_learning_rate
from ._base import (SGDEstimator, change_space, check_param, dask_aware, prior_loss,
                    to_original_space)
from ._numeric import affine_scores, init_network_params, log_softmax, margin, sigmoid, softmax


#: alpha="auto": the largest α, and the total penalty weight spread over n rows
AUTO_ALPHA_MAX = 1e-3
AUTO_ALPHA_TOTAL = 10.0


def auto_alpha(n):
    """α of alpha="auto" for a fit on n rows: min(10⁻³, 10 / n)."""
    return min(AUTO_ALPHA_MAX, AUTO_ALPHA_TOTAL / n)


class MLPClassifier(SGDEstimator):
    """A one-hidden-layer network with sigmoid hidden units and a softmax output.

    Forward pass, W (n_features, b), b1 (b,), V (b, c), b2 (c,):

        Z = σ(X W + b1),   Q̂ = Z V + b2,   Q = softmax(Q̂)    (row-wise)

    Objective (mean over samples, biases unpenalised):

        J = (1/n) Σ_i w_i (logsumexp(Q̂_i) − Q̂_{i,y_i}) + (α/2) (||W||² + ||V||²)

    Backpropagation on a batch B (n = |B|): Δ2 = w ⊙ (Q − Y) / n,
    ∇V = Zᵀ Δ2 + α V, ∇b2 = Σ Δ2, Δ1 = (Δ2 Vᵀ) ⊙ Z ⊙ (1 − Z), ∇W = Xᵀ Δ1 + α W,
    ∇b1 = Σ Δ1. Each parameter θ with gradient g and velocity v steps as

        plain     (momentum = 0):  θ ← θ − η_t g
        momentum  (μ > 0):         v ← μ v − η_t g,   θ ← θ + v
        Nesterov  (μ > 0):         v ← μ v − η_t g,   θ ← θ + μ v − η_t g

    (g's penalty term with α′ = min(α, 1/η_t) in place of α, so that it
    shrinks θ by at most θ: no α makes the step overshoot), with
    η_t = η₀ ("constant"), η₀ / t^power_t ("invscaling"),
    1 / (α (t₀ + t − 1)) with t₀ = α^(−3/4) ("optimal", the linear models'
    schedule) or η₀ divided by 5 between epochs ("adaptive": whenever the
    stopping rule would end ``fit`` and η > 1e-6, η ← η / 5 and the count of
    epochs without improvement restarts). η₀ is ``learning_rate``, by
    default "auto" (below). The weights start Glorot-uniform
    (factor 4 for sigmoid units), the biases at 0. Two classes keep two
    softmax outputs (c = 2).

    Parameters
    ----------
    hidden_size : int, default=100
        Number of hidden units b.
    learning_rate : "auto" or float, default="auto"
        The step size η₀: a float > 0, or "auto" for
        η₀ = 1 / (½ (hidden_size + 1) Ω + α), the curvature bound of the
        output layer (a softmax regression on hidden units in (0, 1), so
        ‖(z, 1)‖² <= hidden_size + 1), with Ω = 1 without sample weights
        (with weights: the mean of the ``batch_size`` largest, at least half
        the largest). docs/math.md, "The automatic step", says why the
        first layer is left out. ``fit`` and the first ``partial_fit``
        compute it, later ``partial_fit`` calls keep it; ``learning_rate_``
        reports it. "invscaling" and "adaptive" start from it; "optimal"
        uses no η₀.
    learning_rate_schedule : {"constant", "invscaling", "optimal", "adaptive"}, \
default="constant"
        η_t = η₀; η₀ / t^power_t with t the step count; 1 / (α (t₀ + t − 1))
        (needs α > 0; η₀ unused); or η₀ divided by 5 whenever the loss stops
        improving (``fit`` only; ``partial_fit`` keeps η₀).
    power_t : float, default=0.5
        Exponent of the "invscaling" schedule.
    max_iter : int, default=200
        Maximum number of epochs in ``fit``.
    tol : float or None, default=1e-4
        Stopping rule, relative to the loss (scale-free): an epoch improves
        when its training loss is below best − tol · L₀ (L₀ the class
        prior's cross-entropy), and ``fit`` stops after
        ``n_iter_no_change`` epochs in a row without improvement. With ``early_stopping`` it applies to the validation
        accuracy instead: an epoch improves when it reaches best + tol.
        ``None`` disables it. A fit that ends with a training loss no better
        than the class prior's, or that gave back over a quarter of its best
        epoch's gain over the prior, warns with a ``ConvergenceWarning``
        naming the likely causes; its parameters are the last epoch's, not
        the best epoch's (docs/math.md, "Training").
    n_iter_no_change : int, default=10
        See ``tol``: the fit stops at the n-th epoch in a row without
        improvement (scikit-learn's MLPClassifier stops at the (n + 1)-th).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows (stratified by class,
        drawn from ``random_state`` before the initial weights), train on
        the others, score the held-out rows' accuracy (weighted by
        ``sample_weight``) after every epoch, stop when it has not improved
        by ``tol`` for ``n_iter_no_change`` epochs, and restore the weights
        of the best score. X is not copied (the kernel trains on the
        training rows' indices); the held-out rows are, once. Not for
        ``partial_fit`` (a ValueError) nor a dask X.
    validation_fraction : float, default=0.1
        The share of the rows held out with ``early_stopping``, in (0, 1).
    batch_size : int or None, default=32
        1: per-sample SGD; k: minibatches of k samples of the (shuffled)
        order; None: full batch (one step per epoch).
    alpha : "auto" or float, default="auto"
        L2 penalty on W and V: a float >= 0, or "auto" for
        α = min(10⁻³, 10 / n), n the rows the fit trains on (without
        ``early_stopping``'s held-out rows; ``partial_fit``: its first
        call's rows, kept by the later calls). A penalty of a fixed total
        weight (10, as scikit-learn's ``LogisticRegression(C=0.1)``) spread
        over the mean loss, so larger data sets are held back less; 10⁻³ up
        to 10,000 rows. ``alpha_`` reports the value.
    momentum : float, default=0.9
        μ in [0, 1).
    nesterov : bool, default=True
        Nesterov's momentum (when momentum > 0).
    shuffle : bool, default=True
        A new sample order every epoch.
    random_state : int, numpy Generator, RandomState or None, default=None
        Seeds the initial weights and the shuffling, once per ``fit``. A
        Generator is used as it is, not copied: ``fit`` and the first
        ``partial_fit`` draw from it and so advance the caller's generator
        (two fits given one Generator differ; an int repeats a fit exactly);
        later ``partial_fit`` calls draw from the estimator's copy and leave
        it as it is. A RandomState gives one draw, the seed of a new
        Generator.
    warm_start : bool, default=False
        ``fit`` continues from the previous fit's weights and velocities,
        and its step count ``t_``: the schedule carries on where it stopped
        (as scikit-learn's MLPClassifier continues its ``t_``), while
        ``n_iter_``, ``loss_curve_`` and "adaptive"'s η restart.
    verbose : int, default=0
        With 1, print "epoch N, loss L, elapsed S s" after every epoch.
    standardize : bool, default=True
        Train on the standardized features z = (x − μ) / σ (μ, σ the
        weighted mean and standard deviation of each feature over the
        training X, σ = 0 taken as 1), inside the kernel: X is never copied.
        ``coefs_[0]`` and ``intercepts_[0]`` are reported for raw X
        (W / σ and b1 − (μ / σ) W), so ``predict`` takes raw X; α penalises
        the standardized first-layer weights. ``partial_fit`` takes μ and σ
        from its first call and keeps them. False: plain SGD on X as given.
    backend : {"cython", "numpy"}, default="cython"
        "cython": the compiled kernel; "numpy": the pure-NumPy reference.
    n_jobs : int or None, default=1
        Threads of one fit: 1, None or -1 (every core), or k > 1, as for the
        linear models. The Cython kernel splits each batch's rows (forward
        and backward passes) and W's rows (its gradient and step) among the
        threads and sums their partial gradients in thread order: a fit is
        the same on every run for a given n_jobs, and equals the n_jobs=1
        fit to rounding; 1 is the serial algorithm exactly. With more than
        one, BLAS runs one thread per call meanwhile (through threadpoolctl,
        when it is installed). The NumPy reference does not use it.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplying ``sample_weight``: a dict
        {label: weight} (labels left out weigh 1), or "balanced" for
        n_samples / (n_classes · count of the class in y) (``fit`` only:
        ``partial_fit`` needs a dict). None weighs every class 1.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coefs_ : list [W, V]
        W (n_features, hidden_size), V (hidden_size, n_classes).
    intercepts_ : list [b1, b2]
        b1 (hidden_size,), b2 (n_classes,).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        The column names, when X was a pandas DataFrame with string column
        names; predicting on a DataFrame then needs the same columns in the
        same order (a ValueError otherwise).
    n_iter_ : int
        Epochs run (accumulates over ``partial_fit`` calls).
    learning_rate_ : float
        The step size η₀ the fit used: "auto"'s value, or ``learning_rate``.
    alpha_ : float
        The L2 penalty α the fit used: "auto"'s value, or ``alpha``.
    t_ : int
        SGD steps taken (continued by ``partial_fit`` and ``warm_start``).
    loss_curve_ : list of float
        Training loss per epoch, (1/n) Σ_i w_i CE_i without the penalty, each
        CE_i from the forward pass of its batch.
    scale_mean_ : ndarray of shape (n_features_in_,)
        μ, with ``standardize=True`` (absent otherwise): the weighted mean
        of each feature the network was trained with.
    scale_std_ : ndarray of shape (n_features_in_,)
        σ, with ``standardize=True``: the weighted standard deviation of
        each feature (1 where it is 0).
    validation_scores_ : list of float or None
        With ``early_stopping``, the held-out accuracy after every epoch;
        None otherwise.
    best_validation_score_ : float or None
        With ``early_stopping``, the best of ``validation_scores_``, whose
        weights the network has; None otherwise.

    Notes
    -----
    The biases are always fitted and there is no weight averaging. X of dtype
    float32 trains in float32; other numeric X in float64. A C-contiguous
    float32/float64 X is never copied; other layouts are copied once. A call
    that raises (bad input, :class:`DivergenceError`) leaves the estimator as
    it was.
    """

    _kind = "network"
    _estimator_type = "classifier"
    _multiclass = True
    _warm_start_continues_schedule = True
    _auto_alpha = staticmethod(auto_alpha)

    def __init__(self, *, hidden_size=100, learning_rate="auto", learning_rate_schedule="constant",
                 power_t=0.5, max_iter=200, tol=1e-4, n_iter_no_change=10, batch_size=32,
                 early_stopping=False, validation_fraction=0.1,
                 alpha="auto", momentum=0.9, nesterov=True, shuffle=True, random_state=None,
                 warm_start=False, verbose=0, standardize=True, backend="cython",
                 class_weight=None, n_jobs=1):
        self.standardize = standardize
        self.hidden_size = hidden_size
        self.class_weight = class_weight
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.power_t = power_t
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.batch_size = batch_size
        self.alpha = alpha
        self.momentum = momentum
        self.nesterov = nesterov
        self.shuffle = shuffle
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.backend = backend
        self.n_jobs = n_jobs

    def _check_model_params(self):
        check_param("hidden_size", self.hidden_size, "int", low=1)
        check_param("momentum", self.momentum, "real", low=0, high=1, high_open=True)
        check_param("nesterov", self.nesterov, "bool")

    def _n_outputs(self, classes):
        return len(classes)

    def _auto_learning_rate(self, X, sw, state, batch):
        """η₀ = 1 / (½ (b + 1) Ω + α): the output layer's curvature bound.
        The output layer is a softmax regression on the hidden row (a_i, 1),
        a_i ∈ (0, 1)^b, so ‖(a_i, 1)‖² <= b + 1 and the softmax's Hessian is
        at most ½; Ω bounds the batches' mean sample weight as R does the
        linear models' (1 without weights). docs/math.md says why the first
        layer is left out."""
        omega = curvature_radius(X, sw, None, batch, 1.0, features=False)
        return linear_learning_rate(0.5, (self.hidden_size + 1) * omega, state["alpha"])

    def _init_state(self, n_features, n_outputs, dtype, rng, continue_from):
        if continue_from is None:
            params = init_network_params(n_features, self.hidden_size, n_outputs, rng, dtype)
            velocities = None
        else:
            fitted_size = continue_from.coefs_[0].shape[1]
            if fitted_size != self.hidden_size:
                raise ValueError(
                    f"hidden_size={self.hidden_size} differs from the fitted network's "
                    f"{fitted_size} hidden units; partial_fit and warm_start continue the "
                    f"fitted network (set hidden_size={fitted_size}, or fit with "
                    "warm_start=False to start a new one).")
            params = [np.array(p, dtype=dtype, order="C") for p in continue_from._params]
            prev = getattr(continue_from, "_velocities", None)
            velocities = None if prev is None else [np.array(v, dtype=dtype) for v in prev]
        if self.momentum > 0 and velocities is None:
            velocities = [np.zeros_like(p) for p in params]
        return {"params": params, "velocities": velocities}

    def _state_arrays(self, state):
        return state["params"]

    def _change_space(self, state, old, new):
        """The continued first layer (and its velocities, linearly) from the
        old statistics' space to the new."""
        change_space(state["params"][0], state["params"][1], old, new)
        if state["velocities"] is not None:
            change_space(state["velocities"][0], state["velocities"][1], old, new)

    def _epoch(self, module, X, y, sw, state, order, batch, t):
        return module.sgd_epoch(X, y, state["params"], order,
                                **self._step_arguments(sw, state, batch, t))

    def _epochs_in_one_call(self, module):
        return hasattr(module, "sgd_epochs")

    def _epochs(self, module, X, y, sw, state, orders, batch, t):
        return module.sgd_epochs(X, y, state["params"], orders,
                                 **self._step_arguments(sw, state, batch, t))

    def _step_arguments(self, sw, state, batch, t):
        """The keyword arguments of the kernels' ``sgd_epoch``/``sgd_epochs``."""
        return dict(eta0=state["eta0"], batch_size=batch, alpha=state["alpha"],
                    momentum=self.momentum, nesterov=self.nesterov,
                    velocities=state["velocities"] if self.momentum > 0 else None,
                    schedule=self.learning_rate_schedule, power_t=self.power_t, t=t,
                    sample_weight=sw, n_threads=state["n_threads"],
                    **self._kernel_standardization(state))

    def _network(self, state):
        """The published (W, b1, V, b2) of ``state``: the first layer for raw X."""
        W, b1, V, b2 = state["params"]
        if state["stats"] is not None:
            W_raw, b1_raw = to_original_space(W, b1, state["stats"])
            W, b1 = W_raw.astype(W.dtype), b1_raw.astype(b1.dtype)
        return W, b1, V, b2

    def _publish(self, state):
        self._params = state["params"]
        self._velocities = state["velocities"]
        W, b1, V, b2 = self._network(state)
        self.coefs_ = [W, V]
        self.intercepts_ = [b1, b2]

    def _state_predictor(self, state):
        """X -> the class index ``predict`` would give with the parameters in
        ``state`` (the first layer for raw X formed once, here)."""
        W, b1, V, b2 = self._network(state)
        return lambda X: affine_scores(sigmoid(affine_scores(X, W, b1)), V, b2).argmax(axis=1)

    def _baseline_loss(self, y, sw, n_outputs):
        """The cross-entropy of the class prior (the output biases alone can
        give it), a mean over the rows weighted as the training loss is."""
        return prior_loss(y, sw, n_outputs, len(y))

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over (X, y), continuing from the current state (weights,
        velocities, step count, shuffling generator).

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

    def _output_scores(self, X):
        """Q̂ = σ(X W + b1) V + b2, each layer's product never NaN (a score
        beyond the dtype's range is ±inf, its sign)."""
        X = self._validate_for_predict(X)
        (W, V), (b1, b2) = self.coefs_, self.intercepts_
        return affine_scores(sigmoid(affine_scores(X, W, b1)), V, b2)

    @dask_aware
    def decision_function(self, X):
        """The output scores Q̂ = σ(X W + b1) V + b2.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Checked like the training data, in the dtype of the parameters.

        Returns
        -------
        ndarray of shape (n_samples, n_classes) or (n_samples,)
            For two classes Q̂₁ − Q̂₀ (0 where Q̂₁ = Q̂₀, both ±inf included),
            > 0 meaning ``classes_[1]``. A score beyond the dtype's range is
            ±inf (its sign), never NaN.
        """
        S = self._output_scores(X)
        return margin(S) if S.shape[1] == 2 else S

    @dask_aware
    def predict_proba(self, X):
        """The class probabilities Q = softmax(Q̂) (where scores are ±inf,
        the limit: the maximal classes share 1 equally).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Checked like the training data, in the dtype of the parameters.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            In the order of ``classes_``.
        """
        return softmax(self._output_scores(X))

    @dask_aware
    def predict_log_proba(self, X):
        """The log class probabilities log softmax(Q̂) = Q̂ − max − log Σ e^(Q̂ − max):
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
        return log_softmax(self._output_scores(X))

    @dask_aware
    def predict(self, X):
        """The class of each sample: classes_[argmax_k Q̂_k] (the lowest index
        on ties).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Checked like the training data, in the dtype of the parameters.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        best = self._output_scores(X).argmax(axis=1)
        return self.classes_[best]
