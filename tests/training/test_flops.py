"""The analytic FLOP counts equal what torch's FLOP counter measures on the real models."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from snnbench.methods import build_model
from snnbench.training.flops import flops_per_row, run_flops

CASES = [
    ("SNN", {"n_hidden": 64, "n_layers": 4, "dropout": 0.05, "layer_form": "conic"}),
    ("MSRAinit", {"n_hidden": 32, "n_layers": 3, "dropout": 0.5, "layer_form": "rectangular"}),
    ("BatchNorm", {"n_hidden": 32, "n_layers": 2, "layer_form": "rectangular"}),
    ("WeightNorm", {"n_hidden": 48, "n_layers": 2, "layer_form": "conic"}),
    ("LayerNorm", {"n_hidden": 32, "n_layers": 2, "layer_form": "rectangular"}),
    ("Highway", {"n_layers": 3, "dropout": 0.5}),
    ("ResNet", {"n_blocks": 2, "n_hidden_per_block": 40, "block_form": "diavolo", "bottleneck": 0.25}),
    ("ResNet", {"n_blocks": 3, "n_hidden": 16, "block_form": "rectangular", "bottleneck": 0.5}),
]


@pytest.mark.parametrize("method,config", CASES)
def test_flop_counts_match_torch_flop_counter(method, config):
    arch = {"highway_width": 24}
    n_in, n_out, rows = 13, 3, 7
    model = build_model(method, n_in=n_in, n_out=n_out, config=config, architecture=arch).train()
    x = torch.randn(rows, n_in)
    with FlopCounterMode(display=False) as forward_only:
        with torch.no_grad():
            model.eval()(x)
    model.train()
    with FlopCounterMode(display=False) as both:
        torch.nn.functional.cross_entropy(model(x), torch.zeros(rows, dtype=torch.long)).backward()
    forward, train = flops_per_row(method, config, n_in=n_in, n_out=n_out, architecture=arch)
    assert forward_only.get_total_flops() == rows * forward
    assert both.get_total_flops() == rows * train
    assert run_flops(method, config, n_in=n_in, n_out=n_out, n_train=10, n_val=3, n_test=1, epochs=2,
                     architecture=arch) == 2 * (10 * train + 4 * forward)
    assert run_flops(method, config, n_in=n_in, n_out=n_out, n_train=10, n_val=3, n_test=5, epochs=4, test_evals=1,
                     architecture=arch) == 4 * (10 * train + 3 * forward) + 5 * forward


@pytest.mark.parametrize("method,config", CASES)
def test_declared_shapes_equal_the_built_networks(method, config):
    """A family's declared layer shapes (what the plan counts without building) are the linear
    layers of the network it builds, in order."""
    import json

    from snnbench import methods
    from snnbench.training.flops import built_shapes

    arch = {"highway_width": 24}
    declared = methods.get(method).shapes(config, n_in=13, n_out=3, architecture=arch)
    assert list(declared) == list(built_shapes(method, json.dumps([config, arch], sort_keys=True), 13, 3))
