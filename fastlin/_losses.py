"""The one table of the linear models' losses.

Each row names a loss and says everything the rest of the code needs to know
about it:

    name        the key every layer uses ("log_loss", ...)
    kind        its code in the kernel: the ``LossKind`` value of the branch
                of ``fastlin/_loss.pxd`` that computes it
    multiclass  False: one output, real targets (``single_loss``);
                True: c >= 2 outputs, integer labels (``multi_loss``)
    reference   the name of its function in ``fastlin.reference.losses``
    estimator   the estimator that trains it, and ``option``: the value of
    option      that estimator's ``loss`` parameter that selects it (None when
                the estimator has this loss only)
    curvature   L, a bound of the loss's second derivative in the score (for
                a multi-class loss, of its Hessian's largest eigenvalue):
                ``learning_rate="auto"`` takes η = 1 / (L R + α)
                (``fastlin._auto_step``, docs/math.md)
    bounded_slope
                True when |∂l/∂s| is bounded (by 1, for every loss here but
                the squared error): a step then moves W by at most
                η ‖z_i‖ per sample and cannot diverge, and "auto" takes R
                from the mean row; False (squared error): R bounds every
                batch, so that no step can overshoot

The kernel's name -> kind map and its single/multi-output check, the
reference's ``LOSSES``, the estimators' ``loss`` options and the tests'
parametrisation are all read from here. Adding a loss: a row here, a branch
in ``fastlin/_loss.pxd``, a function in ``fastlin/reference/losses.py``
(docs/formulas.md, "Adding a loss").
"""
import math
from typing import NamedTuple, Optional

#: max over h = σ(s) in (0, 1) of |d²/ds² ½ (σ(s) − y)²|, y ∈ {0, 1}: for y = 0
#: the second derivative is h² (1 − h) (2 − 3h) (y = 1 mirrors it, h → 1 − h),
#: largest at the root h = (15 − √33) / 24 of its derivative h (12h² − 15h + 4)
#: (about 0.0770; the other root, (15 + √33) / 24, gives −0.0601)
_H = (15 - math.sqrt(33)) / 24
LOGISTIC_SQUARED_CURVATURE = _H * _H * (1 - _H) * (2 - 3 * _H)


class Loss(NamedTuple):
    name: str
    kind: int
    multiclass: bool
    reference: str
    estimator: str
    option: Optional[str] = None
    curvature: float = 1.0
    bounded_slope: bool = True


#: loss name -> its row; the kinds are the values of ``_loss.pxd``'s LossKind
LOSSES = {row.name: row for row in (
    # l = ½ (s − y)²: l'' = 1
    Loss("squared_error", 0, False, "squared_error", "LinearRegression", curvature=1.0,
         bounded_slope=False),
    Loss("logistic_squared_error", 1, False, "logistic_squared_error",
         "LogisticRegression", option="squared_error",
         curvature=LOGISTIC_SQUARED_CURVATURE),
    # l'' = σ(s) (1 − σ(s)) <= 1/4
    Loss("log_loss", 2, False, "log_loss", "LogisticRegression", option="log_loss",
         curvature=0.25),
    # piecewise linear (l'' = 0) and its step does not change the predictions'
    # signs when scaled: L = 1 makes η = 1 / (R + α)
    Loss("perceptron", 3, False, "perceptron", "Perceptron", curvature=1.0),
    Loss("multiclass_perceptron", 4, True, "multiclass_perceptron", "MulticlassPerceptron",
         curvature=1.0),
    # Hessian diag(p) − p pᵀ: row j's absolute sum is 2 p_j (1 − p_j) <= 1/2
    # (Gershgorin), a bound of its largest eigenvalue
    Loss("softmax_cross_entropy", 5, True, "softmax_cross_entropy", "SoftmaxRegression",
         curvature=0.5),
)}

#: the single-output and the multi-class losses' names
SINGLE_OUTPUT = tuple(name for name, row in LOSSES.items() if not row.multiclass)
MULTI_OUTPUT = tuple(name for name, row in LOSSES.items() if row.multiclass)


def get(name):
    """The row of the loss ``name``; a ValueError naming the choices otherwise."""
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {name!r}; expected one of {sorted(LOSSES)}") from None


def options(estimator):
    """``{option: loss name}``: the values of ``estimator``'s ``loss`` parameter."""
    return {row.option: row.name for row in LOSSES.values()
            if row.estimator == estimator and row.option is not None}
