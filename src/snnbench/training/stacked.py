"""Explicit stacked layers: k members of one architecture as one network with a member axis.

Each layer holds its members' parameters stacked on a leading axis (a linear layer's weight is
(k, in, out), applied to (k, B, in) activations with one batched matrix product, ``baddbmm``)
and is built from the k members' reference modules (``models.py``). ``stack(models)`` walks the
reference modules and converts each with the stacker registered for its type in ``STACKERS``: a
new layer type needs its stacked form and one registration. A linear layer that declares its
initialisation (the paper's families, built ``models.undrawn``) is stacked as empty memory, and
``draw_initial`` then draws every member's weights straight into the stacked (k, in, out)
layout from the member's own generator, with ``models.draw_weight``: the numbers the reference
engine draws for that configuration (protocol M7), each weight drawn once, no transposed copy.
A layer that does not declare it (a user's builder) is copied from the member's module. The reference forward passes are
sequential over their children (``FNN``, ``Highway``, ``ResNet``), and so are the stacked ones.

Dropout layers get their masks from ``Masks``: every dropout layer's mask of a training step in
one computation (the counter-based hash of ``models.dropout_keep``, the reference engine's
masks bit for bit), for the members with a non-zero rate only.
"""

from __future__ import annotations

import copy
from typing import Callable, Iterator

import torch
from torch import nn

from snnbench.methods.models import (
    FNN,
    Dropout,
    Highway,
    HighwayLayer,
    LinearInit,
    ResidualBlock,
    ResNet,
    WeightNormLinear,
    as_int32,
    draw_weight,
    dropout_constants,
    dropout_scale_shift,
    element_codes,
    keep_from_hash_,
    keep_threshold,
    mask_keys,
    weight_generator,
)


def _stack(tensors) -> torch.Tensor:
    return torch.stack([t.detach() for t in tensors]).contiguous()


def _declared(layers: list[nn.Module]) -> list[LinearInit] | None:
    """The members' declared initialisations, or None where any layer declares none."""
    inits = [getattr(layer, "weight_init", None) for layer in layers]
    return inits if all(isinstance(i, LinearInit) for i in inits) else None


# A slot: the members' declared initialisations, the member's weight view (in, out), its bias view,
# and what follows the draw (WeightNorm's g), for ``draw_initial``.
Slot = tuple[list[LinearInit], Callable[[int], torch.Tensor], Callable[[int], torch.Tensor],
             Callable[[int], None] | None]


def draw_initial(net: nn.Module, seeds: list[int]) -> nn.Module:
    """Draw every declared linear layer of the stacked ``net``: member m's layers in the
    reference model's order from ``models.weight_generator(seeds[m])``, each weight straight
    into its (in, out) slice of the stacked weight (``models.draw_weight``), bias constant."""
    generators = [weight_generator(seed) for seed in seeds]
    with torch.no_grad():
        for module in net.modules():
            for inits, weight, bias, after in getattr(module, "declared_slots", lambda: ())():
                for m, generator in enumerate(generators):
                    view = weight(m)
                    draw_weight(generator, view.shape[0], view.shape[1], inits[m].std, out=view)
                    bias(m).fill_(inits[m].bias)
                    if after is not None:
                        after(m)
    return net


class StackedLinear(nn.Module):
    """k linear layers: weight (k, in, out), bias (k, out); input (k, B, in), or (B, in) shared by
    every member (evaluation)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, inits: list[LinearInit] | None = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(bias)
        self.inits = inits

    @classmethod
    def stack(cls, layers: list[nn.Linear]) -> "StackedLinear":
        inits, first = _declared(layers), layers[0]
        if inits:
            k = len(layers)
            return cls(torch.empty(k, first.in_features, first.out_features), torch.empty(k, first.out_features), inits)
        return cls(_stack(layer.weight.T for layer in layers), _stack(layer.bias for layer in layers))

    def declared_slots(self) -> Iterator[Slot]:
        if self.inits:
            yield self.inits, lambda m: self.weight[m], lambda m: self.bias[m], None

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

    def __init__(self, v: torch.Tensor, g: torch.Tensor, bias: torch.Tensor,
                 inits: list[LinearInit] | None = None) -> None:
        nn.Module.__init__(self)
        self.v = nn.Parameter(v)
        self.g = nn.Parameter(g)
        self.bias = nn.Parameter(bias)
        self.inits = inits

    @classmethod
    def stack(cls, layers: list[WeightNormLinear]) -> "StackedWeightNormLinear":
        inits, first = _declared(layers), layers[0]
        if inits:
            k, n_in, n_out = len(layers), first.in_features, first.out_features
            return cls(torch.empty(k, n_in, n_out), torch.empty(k, 1, n_out), torch.empty(k, n_out), inits)
        return cls(_stack(layer.v.T for layer in layers), _stack(layer.g.T for layer in layers),
                   _stack(layer.bias for layer in layers))

    def declared_slots(self) -> Iterator[Slot]:
        if self.inits:
            def norm(m: int) -> None:  # g starts at ||v||: the initial weights are the drawn ones
                self.g[m].copy_(self.v[m].norm(dim=0, keepdim=True))

            yield self.inits, lambda m: self.v[m], lambda m: self.bias[m], norm

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
        self.width = w = layers[0].transform.out_features
        self.inits = (_declared([m.transform for m in layers]), _declared([m.gate for m in layers]))
        if all(self.inits):
            self.both = StackedLinear(torch.empty(len(layers), w, 2 * w), torch.empty(len(layers), 2 * w))
        else:
            self.inits = None
            self.both = StackedLinear(
                _stack(torch.cat([m.transform.weight.T, m.gate.weight.T], dim=1) for m in layers),
                _stack(torch.cat([m.transform.bias, m.gate.bias]) for m in layers))

    def declared_slots(self) -> Iterator[Slot]:
        if self.inits:  # H's weights, then T's, side by side in one (k, width, 2 width) weight
            w, both = self.width, self.both
            yield self.inits[0], lambda m: both.weight[m, :, :w], lambda m: both.bias[m, :w], None
            yield self.inits[1], lambda m: both.weight[m, :, w:], lambda m: both.bias[m, w:], None

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
    """Every dropout layer's masks of the training steps, for all members, written into static
    buffers that the layers read.

    Members with a non-zero rate must come first (``batched.py`` orders a group so); the others'
    layers are the identity (scale 1, shift 0). ``draw(calls)`` computes the masks of the next
    ``chunk`` training calls from the device counter ``calls`` (the group's training steps so
    far) in one pass: each element's layer key (``models.mask_keys`` of the layer's seed and the
    call) xor-ed with the element's code, the int32 hash (``models.dropout_keep``: the reference
    engine's masks bit for bit), and each step's scale and shift of every layer as one
    (k, elements) slice. ``select(calls)`` copies the current call's slice into the buffers the
    layers read (with a chunk of one, the draw writes there itself). Both read the counter on the
    device, so both can be captured in CUDA graphs and replayed.
    """

    BUDGET = 2**23  # elements of one chunk of masks (steps x members x units)

    def __init__(self, layers: list[StackedDropout], *, batch: int, device: torch.device) -> None:
        self.layers, self.batch, self.device = layers, batch, device
        for layer in layers:  # the identity until ``bind``
            layer.scale = layer.shift = None
        self.alpha = bool(layers) and layers[0].alpha
        self.k = self.kd = 0
        self.chunk = 1
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

    def bind(self, widths: list[int], *, steps: int) -> None:
        """Fix the layers' widths, the per-element constants and the buffers; ``steps``: an
        epoch's training steps, the most drawn at a time. Chunks are made even (an epoch of 13
        steps with room for 5 draws chunks of 5, 5 and 3 used of 5)."""
        sizes = [self.batch * w for w in widths]
        self.cuts = [(slice(sum(sizes[:i]), sum(sizes[:i + 1])), w) for i, w in enumerate(widths)]
        self.codes = torch.cat([element_codes(s, self.device) for s in sizes])
        self.segment = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes)).to(self.device)
        # per layer, then each element's (kd, elements): the same numbers, computed on few values
        self.threshold = keep_threshold(self.rates).index_select(1, self.segment)
        self.constants = tuple(c.index_select(1, self.segment) for c in dropout_constants(self.rates, alpha=self.alpha))
        n = len(self.codes)
        most = max(1, min(steps, self.BUDGET // (self.k * n)))
        self.chunk = -(-steps // -(-steps // most))
        c, k, kd = self.chunk, self.k, self.kd
        self.scale = torch.ones(c, k, n, device=self.device)
        self.shift = torch.zeros(c, k, n, device=self.device) if self.alpha else None
        self.hash = torch.empty(c, kd, n, dtype=torch.int32, device=self.device)
        self.work = torch.empty_like(self.hash)
        self.keep = torch.empty(self.hash.shape, dtype=torch.bool, device=self.device)
        self.offsets = torch.arange(c, device=self.device).view(c, 1, 1)
        self.base = torch.zeros((), dtype=torch.int64, device=self.device)  # the call of the chunk's first step
        if c == 1:
            now_scale, now_shift = self.scale[0], None if self.shift is None else self.shift[0]
        else:
            now_scale = torch.ones(k, n, device=self.device)
            now_shift = torch.zeros(k, n, device=self.device) if self.alpha else None
        self.now = (now_scale, now_shift)
        for layer, (cut, width) in zip(self.layers, self.cuts):
            layer.scale = now_scale[:, cut].view(k, self.batch, width)
            layer.shift = None if now_shift is None else now_shift[:, cut].view(k, self.batch, width)

    def keys(self, calls: torch.Tensor) -> torch.Tensor:
        """The int32 keys (chunk, kd, layers) of the training calls ``calls``, ``calls`` + 1, ...
        (``calls`` a device int64 scalar)."""
        counter = (calls + self.offsets).view(-1, 1, 1)
        return as_int32(mask_keys(self.seeds.unsqueeze(0), counter))

    def draw(self, calls: torch.Tensor) -> None:
        """The masks of the next ``chunk`` calls from ``calls`` on, into the chunk's buffers."""
        self.base.copy_(calls)
        x = self.hash
        torch.index_select(self.keys(calls), 2, self.segment, out=x)
        x.bitwise_xor_(self.codes)
        keep = keep_from_hash_(x, self.threshold, self.work, out=self.keep)
        dropout_scale_shift(keep, self.constants, out=(self.scale[:, :self.kd],
                                                       None if self.shift is None else self.shift[:, :self.kd]))

    def select(self, calls: torch.Tensor) -> None:
        """The masks of call ``calls`` (drawn by the last ``draw``) into the layers' buffers."""
        if self.chunk == 1:
            return
        slot = (calls - self.base).view(1)
        torch.index_select(self.scale, 0, slot, out=self.now[0].unsqueeze(0))
        if self.shift is not None:
            torch.index_select(self.shift, 0, slot, out=self.now[1].unsqueeze(0))
