"""A user's methods from the config (``train.custom_methods``), checked before any job runs.

::

    custom_methods:
      MyMLP:
        kind: torch
        build: my_methods:build_mlp        # callable(*, n_in, n_out, **hyperparameters) -> nn.Module
        grid: {uci: {n_hidden: [64, 128], lr: [0.01, 0.1]}}
        depth: n_layers                    # optional: the hyperparameter counting hidden layers
      LogReg:
        kind: sklearn
        estimator: sklearn.linear_model:LogisticRegression
        grid: {uci: {C: [0.1, 1.0]}}

A torch method is trained by the engines like the paper's families (``lr`` and ``l2`` go to the
optimiser, every other hyperparameter to ``build``); a scikit-learn estimator class gets the
grid's values as constructor arguments, and ``random_state`` and (above one thread) ``n_jobs``
from the run when it has them and the grid does not set them. Every problem is one ``ConfigError`` naming the setting.
"""

from __future__ import annotations

import inspect
import re
import typing
from typing import Any, Callable, Mapping

from snnbench.contracts.results import IDENTITY_COLUMNS, RESULT_COLUMNS
from snnbench.errors import ConfigError
from snnbench.methods import TRAINING_KEYS, MethodSpec, get, load_object, names, register

ORIGIN = "config (train.custom_methods)"
RESERVED = {*IDENTITY_COLUMNS, *RESULT_COLUMNS} - {"lr", "l2"}  # a hyperparameter must not shadow a result column
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*")
KEYS = {"torch": {"kind", "build", "grid", "depth", "batched"}, "sklearn": {"kind", "estimator", "grid"}}


def _fail(setting: str, why: str) -> ConfigError:
    return ConfigError(f"{setting} {why}")


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _accepted(func: Callable, *, skip: tuple[str, ...]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(keyword -> annotation, or None when it takes **kwargs; keyword -> default) of ``func``."""
    signature = inspect.signature(func)
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # unresolvable annotations: no type checks
        hints = {}
    params = [p for p in signature.parameters.values() if p.name not in skip]
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None, {}
    keywords = {p.name: hints.get(p.name, inspect.Parameter.empty) for p in params
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    defaults = {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}
    return keywords, defaults


def _type_ok(value: Any, expected: Any) -> bool:
    """Whether ``value`` fits ``expected`` (an annotation or a default's type); unknown: yes."""
    if expected in (inspect.Parameter.empty, Any, None):
        return True
    origin = typing.get_origin(expected)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return any(_type_ok(value, a) for a in typing.get_args(expected))
    if origin is typing.Literal:
        return value in typing.get_args(expected)
    if expected is type(None):
        return value is None
    if not isinstance(expected, type):
        return True
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def _check_grids(grids: Any, *, benchmarks: tuple[str, ...], setting: str, keywords: dict[str, Any] | None,
                 defaults: dict[str, Any], required: tuple[str, ...],
                 by_default: bool) -> dict[str, dict[str, list]]:
    if not isinstance(grids, Mapping) or not grids:
        raise _fail(setting, f"must map benchmarks ({', '.join(benchmarks)}) to grids, however: {grids!r}")
    out = {}
    for benchmark, grid in grids.items():
        where = f"{setting}.{benchmark}"
        if benchmark not in benchmarks:
            raise _fail(where, f"is not a benchmark; the benchmarks are {', '.join(benchmarks)}")
        if not isinstance(grid, Mapping) or not grid:
            raise _fail(where, f"must map hyperparameters to lists of values, however: {grid!r}")
        for key in required:
            if key not in grid:
                raise _fail(where, f"has no {key}: a torch method's grid gives the learning rate (a list, e.g. [0.01])")
        for key, values in grid.items():
            if key in RESERVED:
                raise _fail(f"{where}.{key}", "is a column of the result rows (snnbench.contracts.results); name the "
                            "hyperparameter otherwise, e.g. with a builder argument of another name")
            if not isinstance(values, list) or not values:
                raise _fail(f"{where}.{key}", f"must be a non-empty list of values, however: {values!r}")
            if key in TRAINING_KEYS and required:
                expected: Any = float
            elif keywords is None:
                continue
            elif key not in keywords:
                raise _fail(f"{where}.{key}", f"is not a hyperparameter the {'builder' if required else 'estimator'} "
                            f"accepts; it accepts {', '.join(sorted(keywords)) or 'none'}")
            else:
                expected = keywords[key]
                if expected is inspect.Parameter.empty and by_default and defaults.get(key) is not None:
                    default = defaults[key]
                    expected = (float if isinstance(default, (int, float)) and not isinstance(default, bool)
                                else type(default))
                    if isinstance(default, str):  # scikit-learn takes a string or a number for many options
                        expected = inspect.Parameter.empty
            for value in values:
                if not _type_ok(value, expected):
                    name = getattr(expected, "__name__", str(expected))
                    raise _fail(f"{where}.{key}", f"holds {value!r} ({type(value).__name__}), however the "
                                f"{'builder' if required else 'estimator'} expects {name}")
        out[benchmark] = {k: list(v) for k, v in grid.items()}
    return out


def torch_spec(name: str, entry: Mapping[str, Any], *, benchmarks: tuple[str, ...], setting: str) -> MethodSpec:
    user_build = load_object(entry.get("build"), setting=f"{setting}.build")
    if not callable(user_build):
        raise _fail(f"{setting}.build", f"must name a callable, however: {user_build!r}")
    keywords, defaults = _accepted(user_build, skip=())
    if keywords is not None and not {"n_in", "n_out"} <= set(keywords):
        raise _fail(f"{setting}.build", "must accept the keyword arguments n_in and n_out (and the grid's "
                    f"hyperparameters), however it takes: {', '.join(keywords) or 'nothing'}")
    if keywords is not None:
        keywords = {k: v for k, v in keywords.items() if k not in ("n_in", "n_out")}
    grids = _check_grids(entry.get("grid"), benchmarks=benchmarks, setting=f"{setting}.grid", keywords=keywords,
                         defaults=defaults, required=("lr",), by_default=False)
    depth_key = entry.get("depth")
    if depth_key is not None:
        for benchmark, grid in grids.items():
            if depth_key not in grid:
                raise _fail(f"{setting}.depth", f"names {depth_key!r}, which the {benchmark} grid does not have")
    batched = entry.get("batched", True)
    if not isinstance(batched, bool):
        raise _fail(f"{setting}.batched", f"must be true or false, however: {batched!r}")

    def build(*, n_in: int, n_out: int, architecture: Mapping[str, Any] | None = None, **hp: Any):
        return user_build(n_in=n_in, n_out=n_out, **hp)

    return MethodSpec(name=name, kind="torch", build=build, grids=grids, batched=batched, origin=ORIGIN,
                      depth=None if depth_key is None else (lambda config: int(config[depth_key])),
                      summary=f"{entry['build']} (train.custom_methods)")


def builder_setting(spec: MethodSpec) -> str:
    """The setting a torch method's builder comes from: a config's, else the spec's origin."""
    return f"train.custom_methods.{spec.name}.build" if spec.origin == ORIGIN else f"{spec.name} ({spec.origin})"


def check_networks(spec: MethodSpec, configs: list[Mapping[str, Any]], *, n_in: int, n_out: int,
                   architecture: Mapping[str, Any] | None = None) -> None:
    """Build each architecture of ``configs`` once (on the CPU, torch's random state left as it was)
    and run two rows of zeros through it: a ``ConfigError`` naming the builder's setting when it
    raises, returns something other than an ``nn.Module``, one without parameters, or one whose
    output is not (rows, n_out). The training job calls it before it trains, so a builder's mistake
    is one readable line instead of the same traceback per configuration."""
    import torch  # the job's process only: the workflow does not load torch while it parses

    setting = builder_setting(spec)
    seen = set()
    for config in configs:
        hp = {k: v for k, v in config.items() if k not in TRAINING_KEYS}
        key = repr(sorted(hp.items()))
        if key in seen:
            continue
        seen.add(key)
        shown = ", ".join(f"{k}={v!r}" for k, v in hp.items()) or "no hyperparameters"
        call = f"with n_in={n_in}, n_out={n_out}, {shown}"
        with torch.random.fork_rng(devices=[]):
            try:
                model = spec.build_model(n_in=n_in, n_out=n_out, config=config, architecture=architecture)
            except Exception as exc:
                raise _fail(setting, f"raised {_one_line(exc)} {call}") from exc
            if not isinstance(model, torch.nn.Module):
                raise _fail(setting, f"must return a torch.nn.Module, however it returned a {type(model).__name__} "
                            f"{call}")
            if not any(True for _ in model.parameters()):
                raise _fail(setting, f"returned a {type(model).__name__} without parameters {call}: there is "
                            "nothing to train")
            model.eval()
            try:
                with torch.no_grad():
                    out = model(torch.zeros(2, n_in))
            except Exception as exc:
                raise _fail(setting, f"returned a network that fails on a batch of shape (2, {n_in}): "
                            f"{_one_line(exc)} ({call})") from exc
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else None
        if shape != (2, n_out):
            got = f"shape {shape}" if shape is not None else f"a {type(out).__name__}"
            raise _fail(setting, f"returned a network whose output for a batch of shape (2, {n_in}) is {got}, "
                        f"however the task needs (2, {n_out}): one score per row and output ({call})")


def sklearn_spec(name: str, entry: Mapping[str, Any], *, benchmarks: tuple[str, ...], setting: str) -> MethodSpec:
    estimator = load_object(entry.get("estimator"), setting=f"{setting}.estimator")
    if not isinstance(estimator, type) or not hasattr(estimator, "fit"):
        raise _fail(f"{setting}.estimator", f"must name an estimator class with fit, however: {estimator!r}")
    if not (hasattr(estimator, "predict_proba") or hasattr(estimator, "decision_function")):
        raise _fail(f"{setting}.estimator", "must have predict_proba or decision_function (the scores the "
                    "metrics rank), however it has neither")
    keywords, defaults = _accepted(estimator.__init__, skip=("self",))
    grids = _check_grids(entry.get("grid"), benchmarks=benchmarks, setting=f"{setting}.grid", keywords=keywords,
                         defaults=defaults, required=(), by_default=True)
    accepts = set(keywords) if keywords is not None else set()

    def build(*, seed: int, threads: int | None, **hp: Any):
        extra = {}
        if "random_state" in accepts and "random_state" not in hp:
            extra["random_state"] = seed % 2**32
        if "n_jobs" in accepts and "n_jobs" not in hp and threads and threads > 1:  # one thread is the default
            extra["n_jobs"] = threads
        return estimator(**hp, **extra)

    return MethodSpec(name=name, kind="sklearn", build=build, grids=grids, origin=ORIGIN,
                      summary=f"{entry['estimator']} (train.custom_methods)")


def custom_specs(custom: Any, *, benchmarks: tuple[str, ...],
                 setting: str = "train.custom_methods") -> list[MethodSpec]:
    """The specs of ``custom`` (the config's mapping name -> entry), checked, not yet registered;
    ``benchmarks``: the names a grid may be given for (the pipeline passes the registered ones)."""
    if custom is None:
        return []
    if not isinstance(custom, Mapping):
        raise _fail(setting, f"must map method names to their entries, however: {custom!r}")
    builtin = set(names()) - set(names(origin=ORIGIN))
    specs = []
    for name, entry in custom.items():
        where = f"{setting}.{name}"
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise _fail(where, "is not a usable method name: a letter, then letters, digits, _, + or - "
                        "(it becomes part of file paths)")
        if name in builtin:
            raise _fail(where, f"shadows the built-in method {name} ({get(name).origin}); give yours another name")
        if not isinstance(entry, Mapping):
            raise _fail(where, f"must be a mapping with kind, grid and build (torch) or estimator (sklearn), "
                        f"however: {entry!r}")
        kind = entry.get("kind")
        if kind not in KEYS:
            raise _fail(f"{where}.kind", f"must be torch or sklearn, however: {kind!r}")
        unknown = sorted(set(entry) - KEYS[kind])
        if unknown:
            raise _fail(where, f"has unknown key(s) {', '.join(unknown)}; a {kind} method takes "
                        f"{', '.join(sorted(KEYS[kind]))}")
        specs.append((torch_spec if kind == "torch" else sklearn_spec)(name, entry, benchmarks=benchmarks,
                                                                       setting=where))
    return specs


def register_custom(custom: Any, *, benchmarks: tuple[str, ...],
                    setting: str = "train.custom_methods") -> list[MethodSpec]:
    """Check and register the config's custom methods; returns their specs."""
    return [register(spec, setting=f"{setting}.{spec.name}")
            for spec in custom_specs(custom, benchmarks=benchmarks, setting=setting)]
