"""Exact matrix-product FLOP counts of the models, from their layer shapes (read off a network
built on the meta device: no memory, nothing drawn).

Only the matrix products are counted (2 * in * out per row for each linear layer's forward;
the backward pass computes the weight gradient, 2 * in * out per row, and the input gradient,
2 * in * out per row, except for the first layer, whose input needs none; for a network whose
first registered linear layer does not read the input, that saving is misplaced by one layer).
Elementwise work (activations, normalisation, dropout, the optimiser) is left out; it is a few per cent of the
products for the paper's widths. ``tests/training/test_flops.py`` checks these counts against
``torch.utils.flop_counter.FlopCounterMode`` for every family.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from snnbench import methods
from snnbench.methods import build_model


def linear_shapes(method: str, config: dict[str, Any], *, n_in: int, n_out: int,
                  architecture: dict[str, Any] | None = None) -> list[tuple[int, int]]:
    """(in_features, out_features) of every linear layer of ``build_model(method, ...)``, in the
    order the module registers them: from the method's ``shapes`` where it declares them (the
    paper's families), else read off the network built on the meta device."""

    spec = methods.get(method, setting="method")
    if spec.shapes is not None:
        return list(spec.shapes(config, n_in=n_in, n_out=n_out, architecture=architecture))
    key = json.dumps([config, architecture or {}], sort_keys=True, default=str)
    return list(built_shapes(method, key, n_in, n_out))


@functools.lru_cache(maxsize=4096)
def built_shapes(method: str, key: str, n_in: int, n_out: int) -> tuple[tuple[int, int], ...]:
    import torch

    from snnbench.methods.models import WeightNormLinear  # torch, loaded only here


    config, architecture = json.loads(key)
    with torch.device("meta"):
        model = build_model(method, n_in=n_in, n_out=n_out, config=config, architecture=architecture)
    return tuple((m.in_features, m.out_features) for m in model.modules()
                 if isinstance(m, (torch.nn.Linear, WeightNormLinear)))


def flops_per_row(method: str, config: dict[str, Any], *, n_in: int, n_out: int,
                  architecture: dict[str, Any] | None = None) -> tuple[int, int]:
    """(forward FLOPs, forward + backward FLOPs) per input row."""
    shapes = linear_shapes(method, config, n_in=n_in, n_out=n_out, architecture=architecture)
    forward = sum(2 * i * o for i, o in shapes)
    first = 2 * shapes[0][0] * shapes[0][1]
    return forward, 3 * forward - first


def run_flops(method: str, config: dict[str, Any], *, n_in: int, n_out: int, n_train: int, n_val: int, n_test: int,
              epochs: int, test_evals: float | None = None, architecture: dict[str, Any] | None = None) -> float:
    """FLOPs of training one configuration for ``epochs`` epochs on ``n_train`` rows, evaluating
    the ``n_val`` validation rows after each epoch and the ``n_test`` test rows after
    ``test_evals`` of them (default every epoch; protocol F5 evaluates fewer: ``SelectableEpochs``)."""
    forward, train = flops_per_row(method, config, n_in=n_in, n_out=n_out, architecture=architecture)
    test_evals = epochs if test_evals is None else test_evals
    return epochs * (n_train * train + n_val * forward) + test_evals * n_test * forward
