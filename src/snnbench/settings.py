"""Training settings: what the paper leaves unstated, with our defaults (docs/protocol.md).

Torch-free, so that the workflow can validate the `train` section while it parses."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from snnbench.errors import ConfigError

ALIGNS = ("trailing", "centered")  # train.smoothing_align
BRANCH_INITS = ("zero", "he")  # train.resnet_branch_init: ResNet's last layer of a branch

OPTIMIZERS = ("sgd", "adam")
LOSSES = ("cross_entropy", "squared_error")
ENGINES = ("auto", "batched", "reference")
CUDA_GRAPHS = ("auto", "off")
WILCOXON_METHODS = ("auto", "r-default", "exact-if-small", "exact", "asymptotic")
MISSING_RULES = ("shared", "ordered")
COMPARE_WITH = ("published", "none")
TEST_CURVES = ("selectable", "every_epoch")


def _from_dict(cls, values: dict[str, Any] | None, setting: str):
    """``cls(**values)``, an unknown key named with its section (``setting``) and the known ones."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values or {}) - known)
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(f'{setting}.{k}' for k in unknown)}; "
                          f"known: {', '.join(sorted(known))}")
    return cls(**(values or {}))


@dataclass(frozen=True)
class RobustnessSettings:
    """How `snnbench stats --robustness` tests the UCI conclusion (the config's ``robustness``
    section; docs/protocol.md S9)."""

    reference: str = "SNN"  # the method whose claim is tested
    rope: float = 0.01  # region of practical equivalence of the Bayesian signed-rank test (accuracy)
    bayes_samples: int = 50000  # posterior samples of the Bayesian signed-rank test (baycomp's default)
    draws: int = 10000  # bootstrap resamples of the datasets
    seed: int = 0  # of the bootstrap and the posterior samples
    size_thresholds: tuple = (500, 1000, 2000, 5000)  # small: N < threshold (the paper: 1000)
    min_test_rows: tuple = (0, 20, 50, 100)  # drop datasets whose test set is smaller

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> ConfigError:
            return ConfigError(f"robustness.{name} {why}, however: {name}={getattr(self, name)!r}")

        if not isinstance(self.rope, (int, float)) or isinstance(self.rope, bool) or not 0 <= self.rope < 1:
            raise bad("rope", "must be a number in [0, 1)")
        for name in ("bayes_samples", "draws"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 100:
                raise bad(name, "must be an integer of at least 100")
        for name in ("size_thresholds", "min_test_rows"):
            values = getattr(self, name)
            if (not isinstance(values, (list, tuple)) or not values
                    or not all(isinstance(v, int) and v >= 0 for v in values)):
                raise bad(name, "must be a non-empty list of non-negative integers")
            object.__setattr__(self, name, tuple(values))

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None, *, setting: str = "robustness") -> "RobustnessSettings":
        return _from_dict(cls, values, setting)


@dataclass(frozen=True)
class TrainSettings:
    """What the paper leaves unstated, with our defaults (docs/protocol.md, F* entries)."""

    epochs: int = 100
    batch_size: int = 128
    optimizer: str = "sgd"
    momentum: float = 0.0
    weight_decay: float = 0.0
    loss: str = "cross_entropy"
    smoothing_window: int = 10
    smoothing_align: str = "trailing"
    test_curve: str = "selectable"  # the test metric at the epochs early stopping can choose (F5); every_epoch
    refit: bool = False
    device: str = "auto"
    tf32: bool = False
    seed: int = 0
    htru2_output: str = "logit"
    conic_rounding: str = "round"
    norm_position: str = "before_activation"
    highway_width: int = 512
    highway_gate_bias: float = -1.0
    resnet_branch_init: str = "zero"
    eval_batch_size: int = 8192
    max_train_rows: int | None = None  # quick tours only: a seeded subset of the training rows
    engine: str = "auto"  # auto: batched on CUDA, reference on CPU; batched (batched.py); reference
    max_group_size: int = 64  # members of one batched group at most (memory may allow fewer)
    cuda_graphs: str = "auto"  # auto: the batched engine replays its epochs' regions as CUDA graphs on CUDA; off
    streams: int = 4  # batched groups of a job in flight at once (each its own CUDA stream and graphs)

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> ConfigError:
            return ConfigError(f"train.{name} {why}, however: {name}={getattr(self, name)!r}")

        for name in ("epochs", "batch_size", "smoothing_window", "highway_width", "eval_batch_size", "max_group_size",
                     "streams"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise bad(name, "must be a positive integer")
        if self.max_train_rows is not None and (isinstance(self.max_train_rows, bool)
                                                 or not isinstance(self.max_train_rows, int)
                                                 or self.max_train_rows < 2):
            raise bad("max_train_rows", "must be null or an integer >= 2")
        if self.engine not in ENGINES:
            raise bad("engine", f"must be one of {', '.join(ENGINES)}")
        if self.cuda_graphs is False:  # YAML reads an unquoted `off` as false
            object.__setattr__(self, "cuda_graphs", "off")
        if self.cuda_graphs not in CUDA_GRAPHS:
            raise bad("cuda_graphs", f"must be one of {', '.join(CUDA_GRAPHS)}")
        if self.optimizer not in OPTIMIZERS:
            raise bad("optimizer", f"must be one of {', '.join(OPTIMIZERS)}")
        if self.loss not in LOSSES:
            raise bad("loss", f"must be one of {', '.join(LOSSES)}")
        if self.test_curve not in TEST_CURVES:
            raise bad("test_curve", f"must be one of {', '.join(TEST_CURVES)}")
        if self.smoothing_align not in ALIGNS:
            raise bad("smoothing_align", f"must be one of {', '.join(ALIGNS)}")
        if not 0 <= self.momentum < 1:
            raise bad("momentum", "must be in [0, 1)")
        if self.weight_decay < 0:
            raise bad("weight_decay", "must be >= 0")
        if self.resnet_branch_init not in BRANCH_INITS:
            raise bad("resnet_branch_init", f"must be {' or '.join(BRANCH_INITS)}")
        if self.htru2_output not in ("logit", "softmax"):
            raise bad("htru2_output", "must be logit or softmax")
        if self.device != "auto" and not (self.device == "cpu" or self.device.startswith("cuda")):
            raise bad("device", "must be auto, cpu, cuda or cuda:N")

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None, *, setting: str = "train") -> "TrainSettings":
        return _from_dict(cls, values, setting)

    def architecture(self) -> dict[str, Any]:
        return {"conic_rounding": self.conic_rounding, "norm_position": self.norm_position,
                "highway_width": self.highway_width, "highway_gate_bias": self.highway_gate_bias,
                "resnet_branch_init": self.resnet_branch_init}


@dataclass(frozen=True)
class StatsSettings:
    """How every table computes its rank statistics (the config's ``stats`` section; docs/protocol.md
    S1, S2). One set for our tables and the paper check, so that the check vouches for the numbers
    the tables print."""

    wilcoxon: str = "auto"  # the null distribution of the signed-rank test (stats.paired_wilcoxon_greater)
    alpha: float = 0.05  # the star: p < alpha
    missing: str = "shared"  # a missing result's rank (stats.rank_table)
    reference: str = "best"  # what each method is tested against: the paper's (best-ranked; HTRU2: SNN) or a method
    compare_with: str = "published"  # UCI: rank our methods against the 24 published ones too (leaderboard); none

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> ConfigError:
            return ConfigError(f"stats.{name} {why}, however: {name}={getattr(self, name)!r}")

        if self.wilcoxon not in WILCOXON_METHODS:
            raise bad("wilcoxon", f"must be one of {', '.join(WILCOXON_METHODS)}")
        if self.missing not in MISSING_RULES:
            raise bad("missing", f"must be one of {', '.join(MISSING_RULES)}")
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)) or not 0 < self.alpha < 1:
            raise bad("alpha", "must be a number in (0, 1)")
        if not isinstance(self.reference, str) or not self.reference:
            raise bad("reference", "must be best or a method's name")
        if self.compare_with not in COMPARE_WITH:
            raise bad("compare_with", f"must be one of {', '.join(COMPARE_WITH)}")

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None, *, setting: str = "stats") -> "StatsSettings":
        return _from_dict(cls, values, setting)

    def against(self, default: str | None) -> str | None:
        """The method every other is tested against: ``default`` (the paper's choice for the table;
        None: the best-ranked) unless ``reference`` names one."""
        return default if self.reference == "best" else self.reference
