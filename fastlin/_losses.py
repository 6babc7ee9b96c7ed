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

The kernel's name -> kind map and its single/multi-output check, the
reference's ``LOSSES``, the estimators' ``loss`` options and the tests'
parametrisation are all read from here. Adding a loss: a row here, a branch
in ``fastlin/_loss.pxd``, a function in ``fastlin/reference/losses.py``
(docs/formulas.md, "Adding a loss").
"""
from typing import NamedTuple, Optional


class Loss(NamedTuple):
    name: str
    kind: int
    multiclass: bool
    reference: str
    estimator: str
    option: Optional[str] = None


#: loss name -> its row; the kinds are the values of ``_loss.pxd``'s LossKind
LOSSES = {row.name: row for row in (
    Loss("squared_error", 0, False, "squared_error", "LinearRegression"),
    Loss("logistic_squared_error", 1, False, "logistic_squared_error",
         "LogisticRegression", option="squared_error"),
    Loss("log_loss", 2, False, "log_loss", "LogisticRegression", option="log_loss"),
    Loss("perceptron", 3, False, "perceptron", "Perceptron"),
    Loss("multiclass_perceptron", 4, True, "multiclass_perceptron", "MulticlassPerceptron"),
    Loss("softmax_cross_entropy", 5, True, "softmax_cross_entropy", "SoftmaxRegression"),
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
