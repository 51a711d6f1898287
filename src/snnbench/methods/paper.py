"""The paper's seven FNN families (``models.py``), registered with the paper's grids (appendix
Tables A4-A10, A14-A20, A21-A27, as shipped in snnbench/reference)."""

from __future__ import annotations

from typing import Any, Mapping

from snnbench.methods import MethodSpec, register
from snnbench.reference import paper_grids
from snnbench.settings import TrainSettings

FAMILIES = ("SNN", "MSRAinit", "BatchNorm", "WeightNorm", "LayerNorm", "Highway", "ResNet")
# The choices the paper leaves open (train settings, docs/protocol.md M*), with their defaults.
ARCHITECTURE_DEFAULTS = TrainSettings().architecture()


def _builder(family: str):
    def build(*, n_in: int, n_out: int, architecture: Mapping[str, Any] | None = None, **hp: Any):
        from snnbench.methods.models import FNN, Highway, ResNet  # torch: loaded when a model is built

        arch = {**ARCHITECTURE_DEFAULTS, **(architecture or {})}
        try:
            if family == "Highway":
                return Highway(n_in=n_in, n_out=n_out, width=arch["highway_width"],
                               gate_bias=arch["highway_gate_bias"], **hp)
            if family == "ResNet":
                if "n_hidden" in hp:  # the HTRU2 grid calls the block width n_hidden
                    hp["n_hidden_per_block"] = hp.pop("n_hidden")
                return ResNet(n_in=n_in, n_out=n_out, branch_init=arch["resnet_branch_init"], **hp)
            return FNN(n_in=n_in, n_out=n_out, family=family, rounding=arch["conic_rounding"],
                       norm_position=arch["norm_position"], **hp)
        except TypeError as exc:
            raise ValueError(f"{family} does not take the hyperparameters {sorted(hp)} ({exc})") from None

    return build


def _shapes(family: str):
    """(in, out) of every linear layer, in the order the module registers them, without building it
    (the FLOP counts of a whole grid; ``flops.linear_shapes`` builds on the meta device otherwise)."""
    def shapes(config: Mapping[str, Any], *, n_in: int, n_out: int, architecture: Mapping[str, Any] | None = None):
        from snnbench.methods.models import block_inner_width, layer_widths  # torch: see _builder

        arch = {**ARCHITECTURE_DEFAULTS, **(architecture or {})}
        if family == "Highway":
            w = arch["highway_width"]
            return [(n_in, w)] + [(w, w)] * (2 * int(config["n_layers"])) + [(w, n_out)]
        if family == "ResNet":
            n = int(config.get("n_hidden_per_block", config.get("n_hidden")))
            inner = block_inner_width(n_hidden_per_block=n, block_form=config.get("block_form", "rectangular"),
                                      bottleneck=config.get("bottleneck", 0.5))
            return [(n_in, n)] + [(n, inner), (inner, n)] * int(config["n_blocks"]) + [(n, n_out)]
        widths = layer_widths(n_hidden=int(config["n_hidden"]), n_layers=int(config["n_layers"]), n_out=n_out,
                              layer_form=config.get("layer_form", "rectangular"), rounding=arch["conic_rounding"])
        sizes = [n_in, *widths, n_out]
        return list(zip(sizes[:-1], sizes[1:]))

    return shapes


def _depth(key: str):
    return lambda config: int(config[key])


_GRIDS = paper_grids()
for _family in FAMILIES:
    register(MethodSpec(
        name=_family, kind="torch", build=_builder(_family),
        grids={benchmark: grids[_family] for benchmark, grids in _GRIDS.items()},
        depth=_depth("n_blocks" if _family == "ResNet" else "n_layers"), shapes=_shapes(_family),
        # NOTE: BatchNorm cannot train on a batch of one row; a last batch of one is skipped.
        min_batch_rows=2 if _family == "BatchNorm" else 1,
        summary="the paper's FNN family (Klambauer et al. 2017)",
    ))
