"""The two fastlin backends share one adapter: the same calls on either
``fastlin._linear_fast`` or ``fastlin.reference.linear``."""
from . import ALPHA, DEFAULT_ALPHA, DEFAULT_ETA0, ETA0, initial_weights


def prepare_with(module, model, data):
    X, y = data["X"], data["y"]
    loss = model.loss
    if model.shape == "epoch":
        W0, b0 = initial_weights(data, zero=True)
        W, b = W0.copy(), b0.copy()
        order = data["order"]
        eta0 = ETA0.get(loss, DEFAULT_ETA0)
        alpha = ALPHA.get(loss, DEFAULT_ALPHA)

        def epoch():
            # one epoch from W = 0, b = 0 over the fixed shuffled order
            W[:] = W0
            b[:] = b0
            return module.sgd_epoch(X, y, W, b, order, loss, eta0=eta0, alpha=alpha)
        return epoch
    if model.shape == "gradient":
        W, b = initial_weights(data, zero=False)
        return lambda: module.gradient(X, y, W, b, loss)
    return None
