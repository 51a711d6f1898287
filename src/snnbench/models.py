"""The seven feed-forward families of the paper, as plain ``nn.Module``s.

Every constructor takes keyword-only arguments and raises ``ValueError`` showing the bad value.
``build_model(method, ...)`` maps a method name and one grid configuration to a module; the
choices the paper leaves open are arguments with the defaults listed in docs/protocol.md (M*).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

METHODS = ("SNN", "MSRAinit", "BatchNorm", "WeightNorm", "LayerNorm", "Highway", "ResNet")
NORMS = {"BatchNorm": "batch", "LayerNorm": "layer", "WeightNorm": "weight"}
LAYER_FORMS = ("rectangular", "conic")
BLOCK_FORMS = ("rectangular", "diavolo")
ROUNDINGS = ("round", "floor", "ceil")
NORM_POSITIONS = ("before_activation", "after_activation")
BRANCH_INITS = ("zero", "he")

# SELU constants of the paper (eq. 2, the fixed point mean 0 / variance 1), to double precision.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_LAMBDA = 1.0507009873554804934193349852946


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


def init_linear(layer: nn.Linear, *, gain: float) -> nn.Linear:
    """Weights N(0, gain / fan_in), bias 0: gain 1 is LeCun's (SNN), gain 2 is He's / MSRA."""
    nn.init.normal_(layer.weight, mean=0.0, std=math.sqrt(gain / layer.in_features))
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


class FNN(nn.Module):
    """A plain feed-forward net: [Linear -> (norm) -> activation -> dropout] x n_layers -> Linear.

    ``family`` picks the paper's variant: ``SNN`` (SELU, LeCun init, alpha dropout), ``MSRAinit``
    (ReLU, He init, dropout), ``BatchNorm`` / ``LayerNorm`` / ``WeightNorm`` (ReLU, He init,
    dropout, the normalisation at ``norm_position``).
    """

    def __init__(self, *, n_in: int, n_out: int, family: str, n_hidden: int, n_layers: int,
                 dropout: float = 0.0, layer_form: str = "rectangular", rounding: str = "round",
                 norm_position: str = "before_activation") -> None:
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
            linear = init_linear(nn.Linear(width_in, width), gain=gain)
            if norm == "weight":
                # weight = g * v / ||v||; g starts at ||v|| so the initial weights are He's.
                linear = weight_norm(linear, dim=0)
            layers.append((f"linear{i}", linear))
            block = []
            if norm in ("batch", "layer"):
                block.append(("norm", nn.BatchNorm1d(width) if norm == "batch" else nn.LayerNorm(width)))
            act = ("selu", nn.SELU()) if family == "SNN" else ("relu", nn.ReLU())
            block.insert(0 if norm_position == "after_activation" else len(block), act)
            for name, module in block:
                layers.append((f"{name}{i}", module))
            if dropout > 0:
                drop = nn.AlphaDropout(dropout) if family == "SNN" else nn.Dropout(dropout)
                layers.append((f"dropout{i}", drop))
            width_in = width
        self.body = nn.Sequential(OrderedDict(layers))
        self.head = init_linear(nn.Linear(width_in, n_out), gain=gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class HighwayLayer(nn.Module):
    """y = H(x) * T(x) + x * (1 - T(x)), H = ReLU(W_H x + b_H), T = sigmoid(W_T x + b_T)."""

    def __init__(self, *, width: int, gate_bias: float) -> None:
        super().__init__()
        _positive_int("width", width)
        self.transform = init_linear(nn.Linear(width, width), gain=2.0)
        self.gate = init_linear(nn.Linear(width, width), gain=1.0)
        # NOTE: a negative gate bias starts each layer close to the identity (Srivastava et al.
        # 2015 suggest -1 to -3); the paper gives no value (docs/protocol.md M4).
        nn.init.constant_(self.gate.bias, gate_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = torch.sigmoid(self.gate(x))
        return torch.relu(self.transform(x)) * t + x * (1.0 - t)


class Highway(nn.Module):
    """Linear(n_in -> width) + ReLU, ``n_layers`` highway layers (each followed by dropout), Linear head."""

    def __init__(self, *, n_in: int, n_out: int, n_layers: int, width: int = 512, dropout: float = 0.0,
                 gate_bias: float = -1.0) -> None:
        super().__init__()
        _positive_int("n_in", n_in)
        _positive_int("n_out", n_out)
        _positive_int("n_layers", n_layers)
        _positive_int("width", width)
        _probability("dropout", dropout)
        if not math.isfinite(gate_bias):
            raise ValueError(f"gate_bias must be finite, however: {gate_bias=}")
        self.stem = nn.Sequential(OrderedDict(linear=init_linear(nn.Linear(n_in, width), gain=2.0), relu=nn.ReLU()))
        layers: list[tuple[str, nn.Module]] = []
        for i in range(n_layers):
            layers.append((f"highway{i}", HighwayLayer(width=width, gate_bias=gate_bias)))
            if dropout > 0:
                layers.append((f"dropout{i}", nn.Dropout(dropout)))
        self.body = nn.Sequential(OrderedDict(layers))
        self.head = init_linear(nn.Linear(width, n_out), gain=2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.stem(x)))


class ResidualBlock(nn.Module):
    """x -> ReLU(x + Linear(inner -> width)(ReLU(Linear(width -> inner)(x))))."""

    def __init__(self, *, width: int, inner: int, branch_init: str = "zero") -> None:
        super().__init__()
        _positive_int("width", width)
        _positive_int("inner", inner)
        _choice("branch_init", branch_init, BRANCH_INITS)
        self.branch = nn.Sequential(OrderedDict(
            linear0=init_linear(nn.Linear(width, inner), gain=2.0),
            relu0=nn.ReLU(),
            linear1=init_linear(nn.Linear(inner, width), gain=2.0),
        ))
        if branch_init == "zero":
            # NOTE: the paper gives no ResNet initialisation. With He init in both layers every block
            # doubles the activation variance (x16 after 4 blocks); a zero last layer makes each
            # block the identity at the start (Goyal et al. 2017) (docs/protocol.md M5).
            nn.init.zeros_(self.branch.linear1.weight)

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
                 branch_init: str = "zero") -> None:
        super().__init__()
        _positive_int("n_in", n_in)
        _positive_int("n_out", n_out)
        _positive_int("n_blocks", n_blocks)
        _probability("dropout", dropout)
        inner = block_inner_width(n_hidden_per_block=n_hidden_per_block, block_form=block_form, bottleneck=bottleneck)
        n = n_hidden_per_block
        self.stem = nn.Sequential(OrderedDict(linear=init_linear(nn.Linear(n_in, n), gain=2.0), relu=nn.ReLU()))
        blocks: list[tuple[str, nn.Module]] = []
        for i in range(n_blocks):
            blocks.append((f"block{i}", ResidualBlock(width=n, inner=inner, branch_init=branch_init)))
            if dropout > 0:
                blocks.append((f"dropout{i}", nn.Dropout(dropout)))
        self.body = nn.Sequential(OrderedDict(blocks))
        self.head = init_linear(nn.Linear(n, n_out), gain=2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.stem(x)))


# Hyperparameters of the grids that are not architecture (they go to the optimiser).
TRAINING_KEYS = ("lr", "l2")


def build_model(method: str, *, n_in: int, n_out: int, config: dict[str, Any],
                architecture: dict[str, Any] | None = None) -> nn.Module:
    """The module of ``method`` for one grid configuration.

    ``config`` holds the grid's hyperparameters (``lr`` and ``l2`` are ignored here);
    ``architecture`` the choices the paper leaves open: ``conic_rounding``, ``norm_position``,
    ``highway_width``, ``highway_gate_bias``, ``resnet_branch_init``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, however: {method=}")
    arch = {"conic_rounding": "round", "norm_position": "before_activation",
            "highway_width": 512, "highway_gate_bias": -1.0, "resnet_branch_init": "zero", **(architecture or {})}
    hp = {k: v for k, v in config.items() if k not in TRAINING_KEYS}
    try:
        if method == "Highway":
            return Highway(n_in=n_in, n_out=n_out, width=arch["highway_width"], gate_bias=arch["highway_gate_bias"], **hp)
        if method == "ResNet":
            # The HTRU2 grid calls the block width n_hidden.
            if "n_hidden" in hp:
                hp["n_hidden_per_block"] = hp.pop("n_hidden")
            return ResNet(n_in=n_in, n_out=n_out, branch_init=arch["resnet_branch_init"], **hp)
        return FNN(n_in=n_in, n_out=n_out, family=method, rounding=arch["conic_rounding"],
                   norm_position=arch["norm_position"], **hp)
    except TypeError as exc:
        raise ValueError(f"{method} does not take the hyperparameters {sorted(hp)} ({exc})") from None


def depth_of(method: str, config: dict[str, Any]) -> int:
    """Number of hidden layers (or residual blocks), the first tie-breaker of the selection."""
    return int(config["n_blocks"] if method == "ResNet" else config["n_layers"])
