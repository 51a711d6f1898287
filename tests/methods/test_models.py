"""The seven families: self-normalisation, alpha dropout, initialisation, shapes, bad arguments."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from snnbench.methods import build_model
from snnbench.methods.models import (
    FNN,
    SELU_ALPHA,
    SELU_LAMBDA,
    Dropout,
    Highway,
    ResNet,
    WeightNormLinear,
    as_int32,
    block_inner_width,
    declared_linear,
    draw_initial,
    dropout_keep,
    element_codes,
    hash_bits,
    keep_threshold,
    layer_widths,
    mask_keys,
    seed_dropout,
    undrawn,
)
from snnbench.methods.paper import FAMILIES
from snnbench.reference import paper_grids
from snnbench.training.grids import expand
from snnbench.training.stacked import Masks, StackedDropout


def layer_stats(model: nn.Module, x: torch.Tensor, kind: type) -> list[tuple[float, float]]:
    """(mean, variance) of the output of every module of type ``kind``, in order."""
    stats = []
    hooks = [m.register_forward_hook(lambda m, i, o: stats.append((o.mean().item(), o.var().item())))
             for m in model.modules() if isinstance(m, kind)]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return stats


# Tolerances: 4,096 standardised rows through 32 layers of width 512; a per-layer mean within
# 0.1 of 0 and a variance within 0.2 of 1 is the fixed point up to sampling noise.
MEAN_TOL, VAR_TOL = 0.1, 0.2


def test_snn_keeps_mean_zero_and_variance_one_through_32_layers():
    torch.manual_seed(0)
    x = torch.randn(4096, 100)
    model = FNN(n_in=100, n_out=2, family="SNN", n_hidden=512, n_layers=32).eval()
    stats = layer_stats(model, x, nn.SELU)
    assert len(stats) == 32
    for layer, (mean, var) in enumerate(stats, 1):
        assert abs(mean) < MEAN_TOL, f"layer {layer}: mean {mean:.3f}"
        assert abs(var - 1) < VAR_TOL, f"layer {layer}: variance {var:.3f}"


def test_relu_nets_without_normalisation_drift():
    torch.manual_seed(0)
    x = torch.randn(4096, 100)
    # ReLU with the SNN's N(0, 1/fan_in) weights: the variance halves per layer and vanishes.
    lecun_relu = FNN(n_in=100, n_out=2, family="SNN", n_hidden=512, n_layers=32).eval()
    for i in range(32):
        setattr(lecun_relu.body, f"selu{i}", nn.ReLU())
    stats = layer_stats(lecun_relu, x, nn.ReLU)
    assert stats[-1][1] < 1e-6, stats[-1]
    # MSRAinit keeps the second moment, but the activations are not centred: the mean is far from 0.
    msra = FNN(n_in=100, n_out=2, family="MSRAinit", n_hidden=512, n_layers=32).eval()
    stats = layer_stats(msra, x, nn.ReLU)
    assert all(abs(mean) > 3 * MEAN_TOL for mean, _ in stats[8:]), stats[-1]


def test_snn_stays_normalised_with_alpha_dropout_in_training_mode():
    torch.manual_seed(1)
    x = torch.randn(4096, 100)
    model = FNN(n_in=100, n_out=2, family="SNN", n_hidden=512, n_layers=32, dropout=0.05).train()
    stats = layer_stats(model, x, Dropout)
    assert len(stats) == 32
    for layer, (mean, var) in enumerate(stats, 1):
        assert abs(mean) < MEAN_TOL and abs(var - 1) < VAR_TOL, f"layer {layer}: {mean:.3f}, {var:.3f}"


@pytest.mark.parametrize("p", [0.05, 0.1, 0.5])
def test_alpha_dropout_keeps_mean_and_variance_like_the_paper_formula(p):
    """On standard normal input the SNN's dropout gives mean 0, variance 1 and takes exactly the
    values of the paper's affine correction a * (x or alpha') + b (Sec. 3)."""
    torch.manual_seed(2)
    x = torch.randn(1_000_000)
    model = FNN(n_in=4, n_out=2, family="SNN", n_hidden=8, n_layers=1, dropout=p).train()
    drop = model.body.dropout0
    assert isinstance(drop, Dropout) and drop.alpha and float(drop.p) == pytest.approx(p)
    y = drop(x)
    assert abs(y.mean().item()) < 0.01 and abs(y.var().item() - 1) < 0.01
    alpha_prime = -SELU_LAMBDA * SELU_ALPHA
    q = 1 - p
    a = (q + alpha_prime**2 * q * (1 - q)) ** -0.5
    b = -a * (1 - q) * alpha_prime
    dropped = torch.isclose(y, torch.tensor(a * alpha_prime + b), atol=1e-5)
    assert abs(dropped.float().mean().item() - p) < 0.005
    assert torch.allclose(y[~dropped], a * x[~dropped] + b, atol=1e-5)
    model.eval()
    assert torch.equal(drop(x), x)


def test_dropout_masks_are_a_function_of_seed_and_call():
    """Counter-based masks: the same seed gives the same sequence of masks, another seed or the
    next call another mask; a stack of dropout layers under torch.vmap draws exactly each
    member's masks; rate 0 is the identity."""
    x = torch.ones(64, 32)
    first, second = (seed_dropout(Dropout(0.5), 7) for _ in range(2))
    masks = [first(x) for _ in range(3)]
    assert all(torch.equal(m, second(x)) for m in masks)
    assert not torch.equal(masks[0], masks[1])
    other = seed_dropout(Dropout(0.5), 8)
    assert not torch.equal(other(x), masks[0])
    assert set(masks[0].unique().tolist()) == {0.0, 2.0}  # inverted dropout: kept units scaled by 1/(1-p)
    # stacked: members with dropout first, then one without
    members = [seed_dropout(Dropout(p, alpha=True), s) for p, s in ((0.1, 1), (0.5, 3), (0.0, 2))]
    layer = StackedDropout(members)
    masks = Masks([layer], batch=64, device=torch.device("cpu"))
    masks.bind([32], steps=2)
    assert masks.chunk == 2
    calls = torch.zeros((), dtype=torch.int64)
    masks.draw(calls)  # both steps' masks at once, from the device-side counter
    for step in range(2):
        masks.select(calls)
        stacked = layer(x.expand(3, 64, 32))
        calls.add_(1)
        for k, member in enumerate(members):
            assert torch.equal(stacked[k], member(x)), (step, k)
        assert torch.equal(stacked[2], x)  # rate 0: exactly the identity


def test_the_dropout_hash_is_the_protocols():
    """The int32 hash gives the int64 hash's bits (docs/protocol.md F13), and those never change:
    the masks, hence every result with dropout, stay as published by earlier versions."""
    bits = hash_bits(torch.tensor(7), torch.tensor(3), (2, 3), "cpu")
    assert bits.tolist() == [[3590041138, 3114023841, 3859950973], [420366503, 3267756965, 3625353375]]
    generator = torch.Generator().manual_seed(0)
    for seed in (1, 2**62 + 12345, 987654321987):
        for call in (0, 5, 2**33 + 7):
            shape = (37, 29)  # not a multiple of a vector width: the scalar tail too
            reference = hash_bits(torch.tensor(seed), torch.tensor(call), shape, "cpu")
            for p in (0.0, 0.05, 0.5, float(torch.rand((), generator=generator)), 0.999999):
                keep = dropout_keep(element_codes(37 * 29).view(shape),
                                    as_int32(mask_keys(torch.tensor(seed), torch.tensor(call))),
                                    keep_threshold(torch.tensor(p)))
                assert torch.equal(keep, reference >= int(p * 2**32)), (seed, call, p)


def test_weight_norm_layer_reparameterises_its_initial_weights():
    torch.manual_seed(0)
    linear = declared_linear(30, 20, gain=2.0)
    wn = WeightNormLinear(linear)
    assert torch.allclose(wn.weight, linear.weight, atol=1e-6)
    x = torch.randn(5, 30)
    assert torch.allclose(wn(x), linear(x), atol=1e-5)
    with torch.no_grad():
        wn.g.mul_(2.0)
    assert torch.allclose(wn.weight.norm(dim=1), 2 * linear.weight.norm(dim=1), rtol=1e-5)


def test_declared_layers_are_drawn_once_from_the_configurations_generator():
    """Built ``undrawn``, a model holds no drawn weights until ``draw_initial``, which draws each
    weight as an (in, out) matrix from the configuration's generator: the same seed, the same
    weights, whatever torch's global generator says; another seed, others. Built plainly, the
    model is initialised from torch's generator like any module."""
    config = {"n_hidden": 16, "n_layers": 2, "layer_form": "rectangular"}
    with undrawn():
        a = build_model("SNN", n_in=5, n_out=3, config=config)
    torch.manual_seed(123)
    draw_initial(a, 7)
    with undrawn():
        b = build_model("SNN", n_in=5, n_out=3, config=config)
    torch.manual_seed(456)
    draw_initial(b, 7)
    for x, y in zip(a.parameters(), b.parameters()):
        assert torch.equal(x, y)
    expected = torch.empty(5, 16).normal_(0.0, math.sqrt(1 / 5), generator=torch.Generator().manual_seed(7))
    assert torch.equal(a.body.linear0.weight, expected.T)  # the first draw of seed 7, transposed
    assert torch.count_nonzero(a.body.linear0.bias) == 0
    draw_initial(b, 8)
    assert not torch.equal(a.body.linear0.weight, b.body.linear0.weight)
    torch.manual_seed(0)
    plain = build_model("SNN", n_in=5, n_out=3, config=config)
    torch.manual_seed(0)
    again = build_model("SNN", n_in=5, n_out=3, config=config)
    assert torch.equal(plain.body.linear0.weight, again.body.linear0.weight)


def weight_std_ratio(linear: nn.Linear, gain: float) -> float:
    return linear.weight.detach().std().item() / math.sqrt(gain / linear.in_features)


@pytest.mark.parametrize("method,gain", [("SNN", 1.0), ("MSRAinit", 2.0), ("BatchNorm", 2.0), ("LayerNorm", 2.0),
                                         ("WeightNorm", 2.0)])
def test_fnn_initialisation(method, gain):
    torch.manual_seed(3)
    model = build_model(method, n_in=300, n_out=3, config={"n_hidden": 512, "n_layers": 3, "layer_form": "rectangular"})
    linears = [m for m in model.modules() if isinstance(m, (nn.Linear, WeightNormLinear))]
    assert len(linears) == 4
    for linear in linears:
        assert abs(weight_std_ratio(linear, gain) - 1) < 0.05
        assert linear.weight.abs().mean().item() > 0 and torch.count_nonzero(linear.bias) == 0
    kinds = {type(m) for m in model.modules()}
    assert (nn.BatchNorm1d in kinds) == (method == "BatchNorm")
    assert (nn.LayerNorm in kinds) == (method == "LayerNorm")
    assert (nn.SELU in kinds) == (method == "SNN") and (nn.ReLU in kinds) == (method != "SNN")
    if method == "WeightNorm":
        assert all(isinstance(m, WeightNormLinear) for m in linears[:-1])
        assert torch.allclose(linears[0].g.squeeze(), linears[0].v.detach().norm(dim=1), rtol=1e-5)


def test_norm_position_puts_the_normalisation_before_or_after_relu():
    config = {"n_hidden": 8, "n_layers": 1, "layer_form": "rectangular"}
    before = build_model("BatchNorm", n_in=5, n_out=2, config=config)
    after = build_model("BatchNorm", n_in=5, n_out=2, config=config, architecture={"norm_position": "after_activation"})
    assert [type(m) for m in before.body] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, Dropout]
    assert [type(m) for m in after.body] == [nn.Linear, nn.ReLU, nn.BatchNorm1d, Dropout]


def test_highway_initialisation_and_gate_bias():
    torch.manual_seed(4)
    model = Highway(n_in=20, n_out=3, n_layers=3, width=256, gate_bias=-1.0, dropout=0.5)
    layers = [m for m in model.body if not isinstance(m, Dropout)]
    assert len(layers) == 3 and sum(isinstance(m, Dropout) for m in model.body) == 3
    for layer in layers:
        assert torch.all(layer.gate.bias == -1.0)
        assert abs(weight_std_ratio(layer.transform, 2.0) - 1) < 0.05
        assert layer.transform.in_features == layer.transform.out_features == 256
    assert model.stem.linear.in_features == 20 and model.head.out_features == 3


def test_resnet_block_shapes_and_identity_start():
    model = ResNet(n_in=7, n_out=3, n_blocks=3, n_hidden_per_block=512, block_form="diavolo", bottleneck=0.25)
    for block in (m for m in model.body if not isinstance(m, Dropout)):
        assert (block.branch.linear0.in_features, block.branch.linear0.out_features) == (512, 128)
        assert (block.branch.linear1.in_features, block.branch.linear1.out_features) == (128, 512)
        assert torch.count_nonzero(block.branch.linear1.weight) == 0
    x = torch.relu(torch.randn(10, 512))
    assert torch.equal(model.body(x), x)  # zero-initialised branches: every block starts as the identity
    assert block_inner_width(n_hidden_per_block=256, block_form="diavolo", bottleneck=0.5) == 128
    assert block_inner_width(n_hidden_per_block=256, block_form="rectangular", bottleneck=0.25) == 256
    he = ResNet(n_in=7, n_out=3, n_blocks=1, n_hidden_per_block=64, branch_init="he")
    assert torch.count_nonzero(he.body.block0.branch.linear1.weight) > 0


def test_conic_widths_fall_geometrically_to_the_output_size():
    assert layer_widths(n_hidden=1024, n_layers=4, n_out=4, layer_form="conic") == [1024, 256, 64, 16]
    assert layer_widths(n_hidden=256, n_layers=3, n_out=2, layer_form="rectangular") == [256, 256, 256]
    widths = layer_widths(n_hidden=512, n_layers=32, n_out=3, layer_form="conic")
    assert widths[0] == 512 and all(a >= b for a, b in zip(widths, widths[1:])) and min(widths) >= 3
    assert layer_widths(n_hidden=100, n_layers=2, n_out=3, layer_form="conic", rounding="floor") == [100, 17]
    assert layer_widths(n_hidden=100, n_layers=2, n_out=3, layer_form="conic", rounding="ceil") == [100, 18]
    model = build_model("SNN", n_in=9, n_out=4, config={"n_hidden": 1024, "n_layers": 4, "layer_form": "conic"})
    assert [m.out_features for m in model.modules() if isinstance(m, nn.Linear)] == [1024, 256, 64, 16, 4]


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"n_layers": 0}, "n_layers must be a positive integer, however: n_layers=0"),
        ({"dropout": 1.5}, "dropout must be in [0, 1), however: dropout=1.5"),
        ({"layer_form": "conical"}, "layer_form must be one of rectangular, conic, however: layer_form='conical'"),
        ({"family": "Selu"},
         "family must be one of SNN, MSRAinit, BatchNorm, LayerNorm, WeightNorm, however: family='Selu'"),
    ],
)
def test_bad_arguments_show_the_value(kwargs, message):
    args = {"n_in": 4, "n_out": 2, "family": "SNN", "n_hidden": 8, "n_layers": 2, **kwargs}
    with pytest.raises(ValueError) as err:
        FNN(**args)
    assert message in str(err.value)
    with pytest.raises(TypeError):
        FNN(4, 2, "SNN", 8, 2)  # keyword-only


def test_every_paper_configuration_builds():
    """Every architecture of the grids of all three benchmarks builds (on the meta device: no memory)."""
    n_out = {"uci": 3, "tox21": 12, "htru2": 1}
    count = 0
    for benchmark, methods in paper_grids().items():
        assert set(methods) == set(FAMILIES)
        for method, grid in methods.items():
            configs = expand(grid)
            count += len(configs)
            architectures = {tuple((k, v) for k, v in c.items() if k not in ("lr", "l2")) for c in configs}
            for arch in architectures:
                with torch.device("meta"):
                    build_model(method, n_in=30, n_out=n_out[benchmark], config=dict(arch))
    uci = 216 + 216 + 108 * 3 + 36 + 180
    tox21 = 504 + 504 + 252 + 504 + 504 + 126 + 432  # WeightNorm and LayerNorm have dropout there
    htru2 = 180 + 180 + 90 * 3 + 30 + 180
    assert count == uci + tox21 + htru2
