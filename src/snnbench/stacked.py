"""Explicit stacked layers: k members of one architecture as one network with a member axis.

Each layer holds its members' parameters stacked on a leading axis (a linear layer's weight is
(k, in, out), applied to (k, B, in) activations with one batched matrix product, ``baddbmm``)
and is built from the k members' initialised reference modules (``models.py``), so a member
starts exactly where the reference engine starts. ``stack(models)`` walks the reference
modules and converts each with the stacker registered for its type in ``STACKERS``: a new
layer type needs its stacked form and one registration. The reference forward passes are
sequential over their children (``FNN``, ``Highway``, ``ResNet``), and so are the stacked ones.

Dropout layers get their masks from ``Masks``: every dropout layer's mask of a training step in
one computation (the counter-based hash of ``models.dropout_keep``, the reference engine's
masks bit for bit), for the members with a non-zero rate only.
"""

from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn

from .models import (FNN, Dropout, Highway, HighwayLayer, ResidualBlock, ResNet, WeightNormLinear,
                     _as_int32, dropout_constants, dropout_scale_shift, element_codes, keep_from_hash_, keep_threshold,
                     mask_keys)


def _stack(tensors) -> torch.Tensor:
    return torch.stack([t.detach() for t in tensors]).contiguous()


class StackedLinear(nn.Module):
    """k linear layers: weight (k, in, out), bias (k, out); input (k, B, in), or (B, in) shared by
    every member (evaluation)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(bias)

    @classmethod
    def stack(cls, layers: list[nn.Linear]) -> "StackedLinear":
        return cls(_stack(layer.weight.T for layer in layers), _stack(layer.bias for layer in layers))

    def matrix(self) -> torch.Tensor:
        return self.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.matrix()
        if x.dim() == 2:
            x = x.expand(weight.shape[0], *x.shape)
        return torch.baddbmm(self.bias.unsqueeze(1), x, weight)


class StackedWeightNormLinear(StackedLinear):
    """k weight-normalised linear layers: weight = g * v / ||v|| (norm over the inputs), with
    v (k, in, out) and g (k, 1, out), as ``models.WeightNormLinear`` computes it."""

    def __init__(self, v: torch.Tensor, g: torch.Tensor, bias: torch.Tensor) -> None:
        nn.Module.__init__(self)
        self.v = nn.Parameter(v)
        self.g = nn.Parameter(g)
        self.bias = nn.Parameter(bias)

    @classmethod
    def stack(cls, layers: list[WeightNormLinear]) -> "StackedWeightNormLinear":
        return cls(_stack(layer.v.T for layer in layers), _stack(layer.g.T for layer in layers),
                   _stack(layer.bias for layer in layers))

    def matrix(self) -> torch.Tensor:
        return self.g * self.v / self.v.norm(dim=1, keepdim=True)


class StackedBatchNorm(nn.Module):
    """k BatchNorm1d layers: every member's units as channels of one ``batch_norm`` over the
    batch rows (per-member statistics and running averages)."""

    def __init__(self, layers: list[nn.BatchNorm1d]) -> None:
        super().__init__()
        first = layers[0]
        self.eps, self.momentum = first.eps, first.momentum
        self.weight = nn.Parameter(_stack(m.weight for m in layers))
        self.bias = nn.Parameter(_stack(m.bias for m in layers))
        self.register_buffer("running_mean", _stack(m.running_mean for m in layers))
        self.register_buffer("running_var", _stack(m.running_var for m in layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, rows, width = x.shape
        flat = x.transpose(0, 1).reshape(rows, k * width)
        y = nn.functional.batch_norm(flat, self.running_mean.view(-1), self.running_var.view(-1),
                                     self.weight.view(-1), self.bias.view(-1), self.training, self.momentum, self.eps)
        return y.view(rows, k, width).transpose(0, 1)


class StackedLayerNorm(nn.Module):
    """k LayerNorm layers: normalisation over the units, then each member's gain and bias."""

    def __init__(self, layers: list[nn.LayerNorm]) -> None:
        super().__init__()
        self.shape, self.eps = layers[0].normalized_shape, layers[0].eps
        self.weight = nn.Parameter(_stack(m.weight for m in layers))
        self.bias = nn.Parameter(_stack(m.bias for m in layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.layer_norm(x, self.shape, None, None, self.eps)
        return torch.addcmul(self.bias.unsqueeze(1), y, self.weight.unsqueeze(1))


class _ScaleShift(torch.autograd.Function):
    """shift + scale * x, with the gradient scale * grad in one kernel (autograd's addcmul
    backward takes two)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(scale)
        return torch.addcmul(shift, scale, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (scale,) = ctx.saved_tensors
        return grad * scale, None, None


class StackedDropout(nn.Module):
    """k dropout layers; ``Masks.apply`` sets this step's ``scale`` and ``shift`` (k, B, width),
    None is the identity (evaluation, or no member with a non-zero rate)."""

    def __init__(self, layers: list[Dropout]) -> None:
        super().__init__()
        self.alpha = layers[0].alpha
        self.rates = torch.stack([m.p for m in layers]).tolist()  # (tolist reads host memory: no scalar syncs)
        self.seeds = torch.stack([m.seed for m in layers]).tolist()
        self.scale: torch.Tensor | None = None
        self.shift: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.scale is None:
            return x
        rows = x.shape[1]
        if self.shift is None:  # autograd's own product: its gradient is one kernel too, and no Python
            return x * self.scale[:, :rows]
        return _ScaleShift.apply(x, self.scale[:, :rows], self.shift[:, :rows])


class StackedHighwayLayer(nn.Module):
    """k highway layers: y = relu(H x) * T + x * (1 - T), T = sigmoid(G x), with H and G applied as
    one batched product (their weights side by side, (k, width, 2 width))."""

    def __init__(self, layers: list[HighwayLayer]) -> None:
        super().__init__()
        self.width = layers[0].transform.out_features
        self.both = StackedLinear(
            _stack(torch.cat([m.transform.weight.T, m.gate.weight.T], dim=1) for m in layers),
            _stack(torch.cat([m.transform.bias, m.gate.bias]) for m in layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, g = self.both(x).split(self.width, dim=-1)
        t = torch.sigmoid(g)
        return torch.relu(h) * t + x * (1.0 - t)


class StackedResidualBlock(nn.Module):
    """k residual blocks: relu(x + W1 relu(W0 x))."""

    def __init__(self, blocks: list[ResidualBlock]) -> None:
        super().__init__()
        self.branch = stack([b.branch for b in blocks])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.branch(x))


def _sequential(modules: list[nn.Module]) -> nn.Sequential:
    """Reference modules whose forward runs their children in order (``nn.Sequential``, the
    three network classes) -> the stacked children in the same order."""
    names = [name for name, _ in modules[0].named_children()]
    return nn.Sequential(*[stack([getattr(m, name) for m in modules]) for name in names])


STACKERS: dict[type, Callable[[list], nn.Module]] = {
    nn.Sequential: _sequential,
    FNN: _sequential,
    Highway: _sequential,
    ResNet: _sequential,
    nn.Linear: StackedLinear.stack,
    WeightNormLinear: StackedWeightNormLinear.stack,
    nn.BatchNorm1d: StackedBatchNorm,
    nn.LayerNorm: StackedLayerNorm,
    Dropout: StackedDropout,
    HighwayLayer: StackedHighwayLayer,
    ResidualBlock: StackedResidualBlock,
    nn.ReLU: lambda modules: nn.ReLU(),
    nn.SELU: lambda modules: nn.SELU(),
}


ELEMENTWISE = (nn.Tanh, nn.Sigmoid, nn.GELU, nn.SiLU, nn.ELU, nn.LeakyReLU, nn.Identity)
for _kind in ELEMENTWISE:  # parameter-free and elementwise: the module itself acts on (k, rows, units)
    STACKERS[_kind] = lambda modules: copy.deepcopy(modules[0])


def unstackable(module: nn.Module) -> list[str]:
    """The types in ``module`` that have no stacked form (empty: the batched engine can train it).
    A container stacked as ``nn.Sequential`` is looked into; any other registered type stacks whole."""
    kind = type(module)
    if kind not in STACKERS:
        return [kind.__name__]
    if STACKERS[kind] is not _sequential:
        return []
    return sorted({name for child in module.children() for name in unstackable(child)})


def stack(modules: list[nn.Module]) -> nn.Module:
    """The stacked form of k reference modules of one architecture (initialised, CPU)."""
    kind = type(modules[0])
    if any(type(m) is not kind for m in modules):
        raise ValueError(f"cannot stack modules of different types: {sorted({type(m).__name__ for m in modules})}")
    if kind not in STACKERS:
        raise ValueError(f"no stacked form registered for {kind.__name__} (stacked.STACKERS)")
    return STACKERS[kind](modules)


class Masks:
    """Every dropout layer's masks for several training steps at once, for all members.

    Members with a non-zero rate must come first (``batched.py`` orders a group so); the others'
    layers are the identity (scale 1, shift 0). ``draw`` computes the masks of up to ``chunk``
    steps in one pass: each layer's keys xor-ed with its elements' codes, the int32 hash
    (``models.dropout_keep``: the reference engine's masks bit for bit), and each step's scale
    and shift of every layer as one (k, elements) slice; ``apply`` gives the layers their views
    of one step's slice.
    """

    BUDGET = 2**23  # elements of one chunk of masks (steps x members x units)

    def __init__(self, layers: list[StackedDropout], *, batch: int, device: torch.device) -> None:
        self.layers, self.batch, self.device = layers, batch, device
        for layer in layers:  # the identity until ``apply``
            layer.scale = layer.shift = None
        self.alpha = bool(layers) and layers[0].alpha
        self.k = self.kd = 0
        if not layers:
            return
        rates = [list(member) for member in zip(*(layer.rates for layer in layers))]  # member x layer
        drop = [max(member) > 0 for member in rates]
        self.k, self.kd = len(drop), sum(drop)
        if not all(drop[:self.kd]):
            raise ValueError("members with dropout must come first in a stacked group")
        self.rates = torch.tensor(rates[:self.kd], dtype=torch.float32, device=device)
        self.seeds = torch.tensor([layer.seeds for layer in layers], dtype=torch.int64).T[:self.kd].to(device)

    @property
    def active(self) -> bool:
        return self.kd > 0

    def bind(self, widths: list[int], *, steps: int | None = None) -> None:
        """Fix the layers' widths and the per-element constants; ``steps``: at most this many steps
        are drawn at a time (an epoch's), which caps the buffers."""
        sizes = [self.batch * w for w in widths]
        self.cuts = [(slice(sum(sizes[:i]), sum(sizes[:i + 1])), w) for i, w in enumerate(widths)]
        self.codes = torch.cat([element_codes(s, self.device) for s in sizes])
        segment = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes)).to(self.device)
        p = self.rates.index_select(1, segment)  # each element's rate, (kd, elements)
        self.threshold = keep_threshold(p)
        self.constants = dropout_constants(p, alpha=self.alpha)
        n = len(self.codes)
        self.chunk = max(1, min(steps or 2**31, self.BUDGET // (self.k * n)))
        self.scale = torch.ones(self.chunk, self.k, n, device=self.device)
        self.shift = torch.zeros(self.chunk, self.k, n, device=self.device) if self.alpha else None
        self.hash = torch.empty(self.chunk, self.kd, n, dtype=torch.int32, device=self.device)
        self.work = torch.empty_like(self.hash)
        self.keep = torch.empty(self.hash.shape, dtype=torch.bool, device=self.device)

    def keys(self, first_call: int, steps: int) -> torch.Tensor:
        """The int32 keys (steps, kd, layers) of the training calls first_call, ... ."""
        calls = torch.arange(first_call, first_call + steps, device=self.device).view(-1, 1, 1)
        return _as_int32(mask_keys(self.seeds.unsqueeze(0), calls))

    def draw(self, first_call: int, steps: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The scale and shift (steps, k, elements) of the next ``steps`` <= ``chunk`` calls."""
        keys = self.keys(first_call, steps)
        x = self.hash[:steps]
        for layer, (cut, _) in enumerate(self.cuts):
            torch.bitwise_xor(self.codes[cut], keys[:, :, layer:layer + 1], out=x[:, :, cut])
        keep = keep_from_hash_(x, self.threshold, self.work[:steps], out=self.keep[:steps])
        scale, shift = self.scale[:steps], None if self.shift is None else self.shift[:steps]
        dropout_scale_shift(keep, self.constants, out=(scale[:, :self.kd], None if shift is None else shift[:, :self.kd]))
        return scale, shift

    def apply(self, scale: torch.Tensor, shift: torch.Tensor | None) -> None:
        """Give every dropout layer its view of one step's ``scale`` and ``shift`` (k, elements)."""
        for layer, (cut, width) in zip(self.layers, self.cuts):
            layer.scale = scale[:, cut].view(self.k, self.batch, width)
            layer.shift = None if shift is None else shift[:, cut].view(self.k, self.batch, width)
