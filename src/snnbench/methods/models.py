"""The seven feed-forward families of the paper, as plain ``nn.Module``s.

Every constructor takes keyword-only arguments and raises ``ValueError`` showing the bad value.
``build_model(method, ...)`` maps a registered method (``snnbench.methods``; the seven families
register in ``methods/paper.py``) and one grid configuration to a module; the choices the paper
leaves open are arguments with the defaults listed in docs/protocol.md (M*).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch import nn

from snnbench.settings import BRANCH_INITS, TrainSettings

NORMS = {"BatchNorm": "batch", "LayerNorm": "layer", "WeightNorm": "weight"}
LAYER_FORMS = ("rectangular", "conic")
BLOCK_FORMS = ("rectangular", "diavolo")
ROUNDINGS = ("round", "floor", "ceil")
NORM_POSITIONS = ("before_activation", "after_activation")
ARCHITECTURE = TrainSettings()  # the defaults of the choices the paper leaves open (docs/protocol.md M*)

# SELU constants of the paper (eq. 2, the fixed point mean 0 / variance 1), to double precision.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_LAMBDA = 1.0507009873554804934193349852946
ALPHA_PRIME = -SELU_LAMBDA * SELU_ALPHA  # the value a dropped SELU unit takes


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, however: {name}={value!r}")


def _probability(name: str, value: Any) -> None:
    if not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{name} must be in [0, 1), however: {name}={value!r}")


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, however: {name}={value!r}")


def layer_widths(*, n_hidden: int, n_layers: int, n_out: int, layer_form: str = "rectangular",
                 rounding: str = "round") -> list[int]:
    """Widths of the hidden layers.

    ``rectangular``: ``n_layers`` times ``n_hidden``. ``conic``: the first layer has ``n_hidden``
    units and each next one ``r`` times fewer, ``r = (n_out / n_hidden) ** (1 / n_layers)``, so
    the widths fall geometrically and the output layer would be the next step; widths are
    rounded with ``rounding`` and never fall below ``n_out`` (nor 1).
    """
    _positive_int("n_hidden", n_hidden)
    _positive_int("n_layers", n_layers)
    _positive_int("n_out", n_out)
    _choice("layer_form", layer_form, LAYER_FORMS)
    _choice("rounding", rounding, ROUNDINGS)
    if layer_form == "rectangular":
        return [n_hidden] * n_layers
    # NOTE: the paper says only "conic"; geometric decay towards the output size and the rounding
    # rule are our choice (docs/protocol.md M2).
    ratio = (n_out / n_hidden) ** (1.0 / n_layers)
    rounder = {"round": round, "floor": math.floor, "ceil": math.ceil}[rounding]
    floor_width = max(n_out, 1)
    return [max(int(rounder(n_hidden * ratio**i)), floor_width) for i in range(n_layers)]


# --------------------------------------------------------------------------- dropout

_M32 = 0xFFFFFFFF
_INT32_MIN = -(2**31)


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (xorshift-multiply finaliser) of int64 tensors holding 32-bit
    values, in place; the multipliers are odd and below 2^31, so no product overflows int64."""
    x.bitwise_xor_(x >> 16).mul_(0x7FEB352D).bitwise_and_(_M32)
    x.bitwise_xor_(x >> 15).mul_(0x2C1B3C6D).bitwise_and_(_M32)
    return x.bitwise_xor_(x >> 16)


def hash_bits(seed: torch.Tensor, counter: torch.Tensor, shape: torch.Size, device: torch.device) -> torch.Tensor:
    """32 pseudo-random bits (int64 in [0, 2^32)) per element of ``shape``, a pure function of
    (seed, counter, element index): the counter-based generator of the dropout masks, written
    plainly in int64. ``dropout_keep`` computes the same bits faster (int32); the tests hold
    the two equal."""
    key = mask_keys(seed, counter)
    index = torch.arange(math.prod(shape), device=device, dtype=torch.int64).view(shape)
    # index * odd constant is a bijection mod 2^32 (and below 2^63 for < 2^31 elements)
    return _mix32(((index * 0x61C88647) & _M32) ^ key)


def as_int32(x: torch.Tensor) -> torch.Tensor:
    """int64 values in [0, 2^32) -> int32 with the same 32 bits (two's complement)."""
    return torch.where(x >= 2**31, x - 2**32, x).to(torch.int32)


def mask_keys(seed: torch.Tensor, counter: torch.Tensor) -> torch.Tensor:
    """The per-call key (int64 in [0, 2^32)) of a layer's mask from its 63-bit ``seed`` and the
    number of training calls before this one; broadcasts over seeds and counters."""
    return _mix32((seed ^ _mix32((counter ^ (seed >> 32)) & _M32)) & _M32)


def element_codes(n: int, device: torch.device | str | None = None) -> torch.Tensor:
    """The elements' half of the hash input (int32): index * 0x61C88647 mod 2^32 for
    index < n. Constant for a shape, so a batched model computes it once."""
    index = torch.arange(n, device=device, dtype=torch.int64)
    return as_int32((index * 0x61C88647) & _M32)


def dropout_keep(codes: torch.Tensor, keys: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """Which units a dropout mask keeps: ``hash_bits >= floor(p * 2^32)``, with ``codes``
    (``element_codes``) and ``keys`` (``mask_keys`` as int32) broadcasting against each other and
    ``threshold`` (``keep_threshold``) against the result."""
    x = codes ^ keys
    return keep_from_hash_(x, threshold, torch.empty_like(x))


def keep_from_hash_(x: torch.Tensor, threshold: torch.Tensor, work: torch.Tensor,
                    out: torch.Tensor | None = None) -> torch.Tensor:
    """The hash of ``x`` (int32: element code xor key) compared with ``threshold``; ``x`` is
    overwritten and ``work`` (like ``x``) used for the shifts. On int32 tensors, wrapping
    products and masked arithmetic shifts give the int64 hash's bits exactly, at a third of its
    cost on a CPU; the preallocated tensors spare the allocations."""
    for shift, low_bits, multiplier in ((16, 0xFFFF, 0x7FEB352D), (15, 0x1FFFF, 0x2C1B3C6D), (16, 0xFFFF, 0)):
        torch.bitwise_right_shift(x, shift, out=work)
        x.bitwise_xor_(work.bitwise_and_(low_bits))
        if multiplier:
            x.mul_(multiplier)
    x.bitwise_xor_(_INT32_MIN)  # the sign bit flipped: the bits' unsigned order as signed order
    return torch.ge(x, threshold, out=out) if out is not None else torch.ge(x, threshold)


def keep_threshold(p: torch.Tensor) -> torch.Tensor:
    """floor(p * 2^32) - 2^31 as int32: ``dropout_keep``'s threshold for rate ``p``."""
    return ((p.double() * 2.0**32).to(torch.int64) - 2**31).to(torch.int32)


def dropout_constants(p: torch.Tensor, *, alpha: bool) -> tuple[torch.Tensor, ...]:
    """What a dropout layer of rate ``p`` multiplies a kept unit by, and (alpha dropout) what it
    adds to a kept and to a dropped unit: alpha dropout computes a * (x if kept else alpha') + b
    (Sec. 3 of the paper) as ``shift + scale * x``; dropout scales kept units by 1 / (1 - p)."""
    q = 1.0 - p
    if not alpha:
        return (1.0 / q,)
    a = (q + ALPHA_PRIME**2 * q * (1.0 - q)) ** -0.5
    b = -a * (1.0 - q) * ALPHA_PRIME
    return a, b, a * ALPHA_PRIME + b


def dropout_scale_shift(keep: torch.Tensor, constants: tuple[torch.Tensor, ...], *, out=(None, None)) -> tuple:
    """A drawn mask as the map the layer applies, ``x * scale`` or ``shift + scale * x`` (shift
    None for dropout); ``out`` may name tensors to write them into."""
    zero = constants[0].new_zeros(())
    scale = torch.where(keep, constants[0], zero, out=out[0])
    if len(constants) == 1:
        return scale, None
    return scale, torch.where(keep, constants[1], constants[2], out=out[1])


class Dropout(nn.Module):
    """Dropout (``alpha=False``) or the SNN's alpha dropout (``alpha=True``, Sec. 3 of the paper:
    dropped units are set to alpha' = -lambda * alpha, then the affine a * x + b restores mean 0
    and variance 1).

    Masks are drawn from a counter-based hash of (``seed``, number of training calls, element),
    not from torch's global generator, so the batched engine (``stacked.py``) draws each member's
    masks exactly. At p = 0 the module is the identity (exactly), so it is always present.
    """

    def __init__(self, p: float = 0.0, *, alpha: bool = False) -> None:
        super().__init__()
        _probability("dropout", p)
        self.alpha = alpha
        self.active = p > 0
        self.register_buffer("p", torch.tensor(float(p)))
        self.register_buffer("seed", torch.zeros((), dtype=torch.int64))
        self.register_buffer("calls", torch.zeros((), dtype=torch.int64))
        self._codes: torch.Tensor | None = None

    def extra_repr(self) -> str:
        return f"p={float(self.p) if self.p.device.type != 'meta' else '?'}, alpha={self.alpha}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not self.active:
            return x
        n = x.numel()
        if self._codes is None or len(self._codes) < n or self._codes.device != x.device:
            self._codes = element_codes(n, x.device)
        keys = as_int32(mask_keys(self.seed, self.calls))
        keep = dropout_keep(self._codes[:n].view(x.shape), keys, keep_threshold(self.p))
        self.calls.add_(1)
        scale, shift = dropout_scale_shift(keep, dropout_constants(self.p, alpha=self.alpha))
        return x * scale if shift is None else torch.addcmul(shift, scale, x)


def seed_dropout(model: nn.Module, seed: int) -> nn.Module:
    """Give every ``Dropout`` of ``model`` its own mask seed derived from ``seed`` (and reset its
    call counter), so a configuration's masks depend on its seed only."""
    for i, module in enumerate(m for m in model.modules() if isinstance(m, Dropout)):
        digest = hashlib.sha256(f"{seed}/{i}".encode()).digest()
        module.seed.fill_(int.from_bytes(digest[:8], "little") & (2**63 - 1))
        module.calls.zero_()
    return model


# --------------------------------------------------------------------------- layers


class WeightNormLinear(nn.Module):
    """A linear layer with weight normalisation (Salimans & Kingma 2016): weight = g * v / ||v||
    (row norms), from an initialised ``nn.Linear``; g starts at ||v||, so the initial weights are
    the given ones. Its stacked form is ``stacked.StackedWeightNormLinear``."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        undrawn_layer = _undrawn() and hasattr(linear, "weight_init")  # drawn later: nothing to copy
        v = torch.empty_like(linear.weight) if undrawn_layer else linear.weight.detach().clone()
        self.v = nn.Parameter(v)
        self.g = nn.Parameter(torch.empty(v.shape[0], 1, device=v.device) if undrawn_layer
                              else v.norm(dim=1, keepdim=True))
        self.bias = nn.Parameter(torch.empty_like(linear.bias) if undrawn_layer else linear.bias.detach().clone())
        if hasattr(linear, "weight_init"):
            self.weight_init = linear.weight_init

    @property
    def weight(self) -> torch.Tensor:
        return self.g * self.v / self.v.norm(dim=1, keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight, self.bias)


@dataclass(frozen=True)
class LinearInit:
    """A linear layer's declared initialisation: weights N(0, std), bias a constant."""

    std: float
    bias: float = 0.0


_BUILDING = threading.local()  # per thread: the batched engine builds the next group in another


@contextlib.contextmanager
def undrawn() -> Iterator[None]:
    """Build models whose declared linear layers are left undrawn (uninitialised memory): the
    engines draw them once from each configuration's own generator (``draw_initial``,
    ``stacked.draw_initial``), straight into the layout they train in."""
    before = _undrawn()
    _BUILDING.undrawn = True
    try:
        yield
    finally:
        _BUILDING.undrawn = before


def _undrawn() -> bool:
    return getattr(_BUILDING, "undrawn", False)


def declared_linear(n_in: int, n_out: int, *, gain: float, bias: float = 0.0) -> nn.Linear:
    """A linear layer with weights N(0, gain / fan_in) (gain 1: LeCun's, SNN; 2: He's / MSRA; 0:
    zeros) and a constant bias, declared on the layer (``weight_init``). Built outside
    ``undrawn``, it is drawn at once from torch's global generator, as any ``nn.Module``; the
    engines draw it from the configuration's generator instead (protocol M7)."""
    layer = _empty_linear(n_in, n_out)
    layer.weight_init = LinearInit(std=math.sqrt(gain / n_in), bias=bias)
    if not _undrawn() and not layer.weight.is_meta:
        _draw_layer(layer, None)
    return layer


def _empty_linear(n_in: int, n_out: int) -> nn.Linear:
    """An ``nn.Linear`` whose parameters are allocated, on the default device, and not initialised
    (``nn.Linear`` itself would draw them, and on the meta device run its initialisers)."""
    layer = nn.Linear.__new__(nn.Linear)
    nn.Module.__init__(layer)
    layer.in_features, layer.out_features = n_in, n_out
    layer.weight = nn.Parameter(torch.empty(n_out, n_in))
    layer.bias = nn.Parameter(torch.empty(n_out))
    return layer


def weight_generator(seed: int) -> torch.Generator:
    """The CPU generator a configuration's initial weights are drawn from (protocol M7)."""
    return torch.Generator().manual_seed(seed)


def draw_weight(generator: torch.Generator | None, n_in: int, n_out: int, std: float,
                out: torch.Tensor | None = None) -> torch.Tensor:
    """One layer's initial weight in the (in, out) layout: ``normal_`` of a contiguous (in, out)
    tensor (written into ``out`` when given), or zeros without a draw at std 0. Every engine and
    device takes a member's weights from here, so they start from the same numbers."""
    target = out if out is not None and out.is_contiguous() else torch.empty(n_in, n_out)
    with torch.no_grad():
        if std == 0:
            target.zero_()
        else:
            target.normal_(0.0, std, generator=generator)
        if out is not None and target is not out:
            out.copy_(target)
    return target


def _draw_layer(module: nn.Module, generator: torch.Generator | None) -> None:
    init: LinearInit = module.weight_init
    weight = draw_weight(generator, module.in_features, module.out_features, init.std)
    with torch.no_grad():
        if isinstance(module, WeightNormLinear):
            module.v.copy_(weight.T)
            module.g.copy_(module.v.norm(dim=1, keepdim=True))
        else:
            module.weight.copy_(weight.T)
        module.bias.fill_(init.bias)


def declares_init(model: nn.Module) -> bool:
    """Whether every linear layer of ``model`` declares its initialisation (the paper's families;
    a user's builder owns its own, protocol B5)."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, WeightNormLinear))]
    return bool(layers) and all(isinstance(getattr(m, "weight_init", None), LinearInit) for m in layers)


def draw_initial(model: nn.Module, seed: int) -> nn.Module:
    """Draw every declared linear layer of ``model`` from the configuration's generator
    (``weight_generator(seed)``), layer by layer in the model's order, each weight as an
    (in, out) matrix (``draw_weight``; the module holds its transpose)."""
    generator = weight_generator(seed)
    for module in model.modules():
        if isinstance(getattr(module, "weight_init", None), LinearInit):
            _draw_layer(module, generator)
    return model


class FNN(nn.Module):
    """A plain feed-forward net: [Linear -> (norm) -> activation -> dropout] x n_layers -> Linear
    (the dropout is the identity at rate 0).

    ``family`` picks the paper's variant: ``SNN`` (SELU, LeCun init, alpha dropout), ``MSRAinit``
    (ReLU, He init, dropout), ``BatchNorm`` / ``LayerNorm`` / ``WeightNorm`` (ReLU, He init,
    dropout, the normalisation at ``norm_position``).
    """

    def __init__(self, *, n_in: int, n_out: int, family: str, n_hidden: int, n_layers: int,
                 dropout: float = 0.0, layer_form: str = "rectangular", rounding: str = ARCHITECTURE.conic_rounding,
                 norm_position: str = ARCHITECTURE.norm_position) -> None:
        super().__init__()
        _positive_int("n_in", n_in)
        _choice("family", family, ("SNN", "MSRAinit", *NORMS))
        _probability("dropout", dropout)
        _choice("norm_position", norm_position, NORM_POSITIONS)
        self.family = family
        self.widths = layer_widths(n_hidden=n_hidden, n_layers=n_layers, n_out=n_out,
                                   layer_form=layer_form, rounding=rounding)
        norm = NORMS.get(family)
        gain = 1.0 if family == "SNN" else 2.0
        layers: list[tuple[str, nn.Module]] = []
        width_in = n_in
        for i, width in enumerate(self.widths):
            linear = declared_linear(width_in, width, gain=gain)
            if norm == "weight":
                # weight = g * v / ||v||; g starts at ||v|| so the initial weights are He's.
                linear = WeightNormLinear(linear)
            layers.append((f"linear{i}", linear))
            block = []
            if norm in ("batch", "layer"):
                block.append(("norm", nn.BatchNorm1d(width) if norm == "batch" else nn.LayerNorm(width)))
            act = ("selu", nn.SELU()) if family == "SNN" else ("relu", nn.ReLU())
            block.insert(0 if norm_position == "after_activation" else len(block), act)
            for name, module in block:
                layers.append((f"{name}{i}", module))
            layers.append((f"dropout{i}", Dropout(dropout, alpha=family == "SNN")))
            width_in = width
        self.body = nn.Sequential(OrderedDict(layers))
        self.head = declared_linear(width_in, n_out, gain=gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class HighwayLayer(nn.Module):
    """y = H(x) * T(x) + x * (1 - T(x)), H = ReLU(W_H x + b_H), T = sigmoid(W_T x + b_T)."""

    def __init__(self, *, width: int, gate_bias: float) -> None:
        super().__init__()
        _positive_int("width", width)
        self.transform = declared_linear(width, width, gain=2.0)
        # NOTE: a negative gate bias starts each layer close to the identity (Srivastava et al.
        # 2015 suggest -1 to -3); the paper gives no value (docs/protocol.md M4).
        self.gate = declared_linear(width, width, gain=1.0, bias=gate_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = torch.sigmoid(self.gate(x))
        return torch.relu(self.transform(x)) * t + x * (1.0 - t)


class Highway(nn.Module):
    """Linear(n_in -> width) + ReLU, ``n_layers`` highway layers (each followed by dropout), Linear head."""

    def __init__(self, *, n_in: int, n_out: int, n_layers: int, width: int = ARCHITECTURE.highway_width,
                 dropout: float = 0.0, gate_bias: float = ARCHITECTURE.highway_gate_bias) -> None:
        super().__init__()
        _positive_int("n_in", n_in)
        _positive_int("n_out", n_out)
        _positive_int("n_layers", n_layers)
        _positive_int("width", width)
        _probability("dropout", dropout)
        if not math.isfinite(gate_bias):
            raise ValueError(f"gate_bias must be finite, however: {gate_bias=}")
        self.stem = nn.Sequential(OrderedDict(linear=declared_linear(n_in, width, gain=2.0), relu=nn.ReLU()))
        layers: list[tuple[str, nn.Module]] = []
        for i in range(n_layers):
            layers.append((f"highway{i}", HighwayLayer(width=width, gate_bias=gate_bias)))
            layers.append((f"dropout{i}", Dropout(dropout)))
        self.body = nn.Sequential(OrderedDict(layers))
        self.head = declared_linear(width, n_out, gain=2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.stem(x)))


class ResidualBlock(nn.Module):
    """x -> ReLU(x + Linear(inner -> width)(ReLU(Linear(width -> inner)(x))))."""

    def __init__(self, *, width: int, inner: int, branch_init: str = ARCHITECTURE.resnet_branch_init) -> None:
        super().__init__()
        _positive_int("width", width)
        _positive_int("inner", inner)
        _choice("branch_init", branch_init, BRANCH_INITS)
        # NOTE: the paper gives no ResNet initialisation. With He init in both layers every block
        # doubles the activation variance (x16 after 4 blocks); a zero last layer makes each
        # block the identity at the start (Goyal et al. 2017) (docs/protocol.md M5).
        self.branch = nn.Sequential(OrderedDict(
            linear0=declared_linear(width, inner, gain=2.0),
            relu0=nn.ReLU(),
            linear1=declared_linear(inner, width, gain=0.0 if branch_init == "zero" else 2.0),
        ))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.branch(x))


def block_inner_width(*, n_hidden_per_block: int, block_form: str, bottleneck: float) -> int:
    """Width of a block's middle layer: ``n_hidden_per_block`` (rectangular) or the bottleneck share of it (diavolo)."""
    _positive_int("n_hidden_per_block", n_hidden_per_block)
    _choice("block_form", block_form, BLOCK_FORMS)
    if not isinstance(bottleneck, (int, float)) or not 0 < bottleneck <= 1:
        raise ValueError(f"bottleneck must be in (0, 1], however: {bottleneck=}")
    if block_form == "rectangular":
        return n_hidden_per_block
    return max(1, round(n_hidden_per_block * bottleneck))


class ResNet(nn.Module):
    """Linear(n_in -> n) + ReLU, ``n_blocks`` two-layer residual blocks of width n, Linear head.

    ``diavolo`` blocks narrow their middle layer to ``bottleneck`` * n (an hourglass);
    ``rectangular`` blocks keep n throughout, so there ``bottleneck`` has no effect.
    """

    def __init__(self, *, n_in: int, n_out: int, n_blocks: int, n_hidden_per_block: int,
                 block_form: str = "rectangular", bottleneck: float = 0.5, dropout: float = 0.0,
                 branch_init: str = ARCHITECTURE.resnet_branch_init) -> None:
        super().__init__()
        _positive_int("n_in", n_in)
        _positive_int("n_out", n_out)
        _positive_int("n_blocks", n_blocks)
        _probability("dropout", dropout)
        inner = block_inner_width(n_hidden_per_block=n_hidden_per_block, block_form=block_form, bottleneck=bottleneck)
        n = n_hidden_per_block
        self.stem = nn.Sequential(OrderedDict(linear=declared_linear(n_in, n, gain=2.0), relu=nn.ReLU()))
        blocks: list[tuple[str, nn.Module]] = []
        for i in range(n_blocks):
            blocks.append((f"block{i}", ResidualBlock(width=n, inner=inner, branch_init=branch_init)))
            blocks.append((f"dropout{i}", Dropout(dropout)))
        self.body = nn.Sequential(OrderedDict(blocks))
        self.head = declared_linear(n, n_out, gain=2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.stem(x)))


