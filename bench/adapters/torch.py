"""PyTorch on the CPU: the network of W3 as ``nn.Sequential(Linear, Sigmoid,
Linear)`` with ``CrossEntropyLoss`` (mean over the batch) and plain
``torch.optim.SGD`` (no momentum, weight decay α = 1e-4 on the weights only,
as fastlin's L2 penalty), one epoch over the
same order and batches as fastlin, written as a PyTorch user writes it
(index the batch, forward, backward, step). Threads are set by the runner
(``torch.set_num_threads``). Only the network workload has a torch entry."""
import numpy as np
import torch

from ._network import ALPHA, BATCH_SIZE, ETA0, initial_params, is_network

NAME = "torch"


def prepare(model, data):
    if not is_network(model):
        return None
    X = torch.from_numpy(data["X"])                  # shares memory, X's dtype
    y = torch.from_numpy(data["y"].astype(np.int64))
    order = torch.from_numpy(data["order"].astype(np.int64))
    W, b1, V, b2 = initial_params(data)
    net = torch.nn.Sequential(
        torch.nn.Linear(W.shape[0], W.shape[1]),
        torch.nn.Sigmoid(),
        torch.nn.Linear(V.shape[0], V.shape[1]),
    ).to(X.dtype)
    # nn.Linear stores its weight as (out, in): Wᵀ and Vᵀ; the same start as fastlin
    start = [torch.from_numpy(np.ascontiguousarray(a)) for a in (W.T, b1, V.T, b2)]
    params = [net[0].weight, net[0].bias, net[2].weight, net[2].bias]
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD([{"params": params[0::2], "weight_decay": ALPHA},   # W, V
                           {"params": params[1::2], "weight_decay": 0.0}],    # biases
                          lr=ETA0, momentum=0.0)
    n = X.shape[0]

    def epoch():
        with torch.no_grad():
            for p, p0 in zip(params, start):
                p.copy_(p0)
        for s in range(0, n, BATCH_SIZE):
            idx = order[s:s + BATCH_SIZE]
            opt.zero_grad()
            loss = loss_fn(net(X[idx]), y[idx])
            loss.backward()
            opt.step()
    return epoch
