"""Exact matrix-product FLOP counts of the models, from their layer shapes (no model is built).

Only the matrix products are counted (2 * in * out per row for each linear layer's forward;
the backward pass computes the weight gradient, 2 * in * out per row, and the input gradient,
2 * in * out per row, except for the first layer, whose input needs none). Elementwise work
(activations, normalisation, dropout, the optimiser) is left out; it is a few per cent of the
products for the paper's widths. ``tests/test_flops.py`` checks these counts against
``torch.utils.flop_counter.FlopCounterMode`` for every family.
"""

from __future__ import annotations

from typing import Any

from .models import block_inner_width, layer_widths


def linear_shapes(method: str, config: dict[str, Any], *, n_in: int, n_out: int,
                  architecture: dict[str, Any] | None = None) -> list[tuple[int, int]]:
    """(in_features, out_features) of every linear layer of ``build_model(method, ...)``, in order."""
    arch = {"conic_rounding": "round", "highway_width": 512, **(architecture or {})}
    if method == "Highway":
        w = arch["highway_width"]
        return [(n_in, w)] + [(w, w)] * (2 * int(config["n_layers"])) + [(w, n_out)]
    if method == "ResNet":
        n = int(config.get("n_hidden_per_block", config.get("n_hidden")))
        inner = block_inner_width(n_hidden_per_block=n, block_form=config["block_form"], bottleneck=config["bottleneck"])
        return [(n_in, n)] + [(n, inner), (inner, n)] * int(config["n_blocks"]) + [(n, n_out)]
    widths = layer_widths(n_hidden=int(config["n_hidden"]), n_layers=int(config["n_layers"]), n_out=n_out,
                          layer_form=config.get("layer_form", "rectangular"), rounding=arch["conic_rounding"])
    sizes = [n_in, *widths, n_out]
    return list(zip(sizes[:-1], sizes[1:]))


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
