"""Methods as registered units: a name, a kind, and what the engines and the tables need.

A method is a ``MethodSpec``. Kind ``torch``: a builder of an ``nn.Module`` that the engines
train with the paper's protocol (``build(*, n_in, n_out, architecture, **hyperparameters)``);
kind ``sklearn``: a builder of an estimator with ``fit`` and ``predict_proba`` (or
``decision_function``) fitted once per configuration (``build(*, seed, threads, **hyperparameters)``).

Where specs come from, all through ``register``:

* the built-in modules listed in ``BUILTIN_MODULES``: each registers its methods when imported
  (``paper``: the paper's seven FNN families; ``baselines``: RF and SVM; ``boosting``: XGBoost,
  LightGBM, CatBoost). A new built-in method is its own module plus one line here;
* installed packages, through the entry-point group ``snnbench.methods`` (an entry point names a
  ``MethodSpec``, a list of them, or a callable returning either);
* the config's ``train.custom_methods`` (``custom.py``), checked before any job runs.

This module is torch-free: the workflow reads the registry while it parses the config.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from snnbench.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn

log = logging.getLogger("snnbench")

KINDS = ("torch", "sklearn")
BUILTIN_MODULES = ("paper", "baselines", "boosting")
ENTRY_POINT_GROUP = "snnbench.methods"
TRAINING_KEYS = ("lr", "l2")  # torch hyperparameters that go to the optimiser, not to the builder
Grid = dict[str, list[Any]]


@dataclass(frozen=True)
class MethodSpec:
    """One method.

    ``grids``: its default grid per benchmark, ``"*"`` for any benchmark that declares none for it
    (the grid file, ``train.grids``, may override a built-in's; a benchmark without a grid cannot
    run the method; ``pipeline.runs.method_grid``). Torch methods only:
    ``depth`` (hyperparameters -> number of hidden layers or blocks: the selection's first
    tie-breaker and Table 2's rows; None: no depth), ``min_batch_rows`` (a training batch with
    fewer rows is skipped: 2 for BatchNorm), ``batched`` (may the batched engine train it; it
    does so only when every module of the built network has a stacked form, ``stacked.STACKERS``).
    ``deterministic``: its result does not depend on the seed (one repeat of a benchmark is enough);
    ``requires``: the modules it needs beyond snnbench's dependencies (checked before any job
    runs); ``origin`` says where the spec came from (snnbench, an entry point, the config)."""

    name: str
    kind: str
    build: Callable[..., Any]
    grids: Mapping[str, Grid] = field(default_factory=dict)
    depth: Callable[[Mapping[str, Any]], int | None] | None = None
    min_batch_rows: int = 1
    batched: bool = True
    deterministic: bool = False  # the same result for every seed: one repeat is enough (Tox21, T10)
    shapes: Callable[..., list] | None = None  # (config, *, n_in, n_out, architecture) -> linear layers' (in, out)
    requires: tuple[str, ...] = ()  # modules it imports that snnbench does not install by default
    origin: str = "snnbench"
    summary: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"method {self.name}: kind must be one of {', '.join(KINDS)}, "
                              f"however: kind={self.kind!r}")
        if not callable(self.build):
            raise ConfigError(f"method {self.name}: build must be callable, however: {self.build!r}")

    def depth_of(self, config: Mapping[str, Any]) -> int | None:
        return None if self.depth is None else self.depth(config)

    def build_model(self, *, n_in: int, n_out: int, config: Mapping[str, Any],
                    architecture: Mapping[str, Any] | None = None):
        """The torch module of one configuration (``lr`` and ``l2`` go to the optimiser, not here)."""
        hp = {k: v for k, v in config.items() if k not in TRAINING_KEYS}
        return self.build(n_in=n_in, n_out=n_out, architecture=dict(architecture or {}), **hp)

    def build_estimator(self, config: Mapping[str, Any], *, seed: int, threads: int | None):
        return self.build(seed=seed, threads=threads, **config)


_REGISTRY: dict[str, MethodSpec] = {}
_loaded = False


def register(spec: MethodSpec, *, setting: str | None = None) -> MethodSpec:
    """Add ``spec``; a name already registered by another origin is an error naming ``setting``."""
    known = _REGISTRY.get(spec.name)
    if known is not None and known.origin != spec.origin:
        where = f" ({setting})" if setting else ""
        raise ConfigError(f"method {spec.name!r}{where} shadows the method of that name from {known.origin}; "
                          "give it another name")
    _REGISTRY[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a registered method (a test's, or a session's own)."""
    _REGISTRY.pop(name, None)


def load(*, again: bool = False) -> None:
    """Import the built-in modules and the installed entry points, once (``again``: read the
    entry points anew, e.g. after installing a plug-in in this process)."""
    global _loaded
    if _loaded and not again:
        return
    _loaded = True
    for module in BUILTIN_MODULES:
        importlib.import_module(f"{__name__}.{module}")
    from importlib.metadata import entry_points

    for point in entry_points(group=ENTRY_POINT_GROUP):
        where = f"entry point {point.name} = {point.value} (group {ENTRY_POINT_GROUP})"
        try:
            found = point.load()
            found = found() if callable(found) and not isinstance(found, MethodSpec) else found
        except Exception as exc:  # a broken plug-in names itself and stops the run
            raise ConfigError(f"{where} failed to load: {type(exc).__name__}: {exc}") from exc
        for spec in found if isinstance(found, (list, tuple)) else [found]:
            if not isinstance(spec, MethodSpec):
                raise ConfigError(f"{where} must give a snnbench.methods.MethodSpec or a list of them, "
                                  f"however: {type(spec).__name__}")
            register(spec, setting=where)


def names(kind: str | None = None, *, origin: str | None = None) -> tuple[str, ...]:
    """Registered method names in registration order, of one ``kind`` and ``origin`` if given."""
    load()
    return tuple(n for n, s in _REGISTRY.items()
                 if (kind is None or s.kind == kind) and (origin is None or s.origin == origin))


def get(name: str, *, setting: str = "train.methods") -> MethodSpec:
    load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown method {name!r} in {setting}; the methods are {', '.join(_REGISTRY)} "
                          "(add your own under train.custom_methods, or through the entry-point group "
                          f"{ENTRY_POINT_GROUP})") from None


def check(name: str, *, kind: str | None = None, setting: str = "train.methods") -> MethodSpec:
    """The spec of ``name``; an unknown name, one of another kind, or one whose optional packages
    are missing is an error naming ``setting``."""
    spec = get(name, setting=setting)
    if kind is not None and spec.kind != kind:
        listed = {"torch": "train.methods", "sklearn": "train.baselines"}[spec.kind]
        raise ConfigError(f"{setting}: {name} is a {spec.kind} method; list it under {listed}")
    check_requirements(spec, setting=setting)
    return spec


def check_requirements(spec: MethodSpec, *, setting: str) -> None:
    """A method whose optional packages are not installed stops the run before any job starts."""
    from importlib.util import find_spec

    missing = [m for m in spec.requires if find_spec(m) is None]
    if missing:
        raise ConfigError(f"{setting}: {spec.name} needs {', '.join(missing)}, which is not installed; "
                          'install the extra (pip install -e ".[beyond]", which make setup does) or drop it')


def load_object(path: str, *, setting: str) -> Any:
    """The object at ``module:attribute`` (``module.attribute`` accepted too)."""
    if not isinstance(path, str) or not path.strip():
        raise ConfigError(f"{setting} must be an import path module:name, however: {path!r}")
    module, sep, attribute = path.partition(":")
    if not sep:
        module, _, attribute = path.rpartition(".")
    if not module or not attribute:
        raise ConfigError(f"{setting} must be an import path module:name, however: {path!r}")
    try:
        imported = importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"{setting}: cannot import {module!r} ({exc}); install it, or put its folder on "
                          "PYTHONPATH for Snakemake and the jobs") from exc
    obj = imported
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"{setting}: module {module!r} has no {attribute!r}")
        obj = getattr(obj, part)
    return obj


def build_model(method: str, *, n_in: int, n_out: int, config: dict[str, Any],
                architecture: dict[str, Any] | None = None) -> nn.Module:
    """The module of the registered torch ``method`` (``snnbench.methods``) for one grid
    configuration; ``config``'s ``lr`` and ``l2`` go to the optimiser, not here. ``architecture``
    holds the choices the paper leaves open (``TrainSettings.architecture()``)."""

    spec = get(method, setting="method")
    if spec.kind != "torch":
        raise ValueError(f"{method} is a {spec.kind} method, not a torch one")
    return spec.build_model(n_in=n_in, n_out=n_out, config=config, architecture=architecture)


def depth_of(method: str, config: dict[str, Any]) -> int | None:
    """Number of hidden layers (or residual blocks), the first tie-breaker of the selection; None
    for a method without a depth."""

    return get(method, setting="method").depth_of(config)


# The built-ins register in this order, whichever of their modules is imported first (a
# benchmark's spec may import one for its grids); the entry points wait for ``load``.
for _module in BUILTIN_MODULES:
    importlib.import_module(f"{__name__}.{_module}")
