# Configuration, validation and the helpers the rules use, named for intent.
import sys
from pathlib import Path

from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml")

# The rules run the snnbench of this checkout (src/), with the Python of the project's virtual
# environment that runs Snakemake, or with a rule's conda environment when conda deployment is on.
SRC_DIR = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC_DIR)
_USES_CONDA = any("conda" in str(m).lower() for m in workflow.deployment_settings.deployment_method)
_PYTHON_ON_PATH = "" if _USES_CONDA else f'export PATH="{Path(sys.executable).parent}:$PATH"; '
shell.prefix(f'set -euo pipefail; export PYTHONPATH="{SRC_DIR}${{{{PYTHONPATH:+:$PYTHONPATH}}}}"; {_PYTHON_ON_PATH}')

from snnbench.datasets.uci import check_names, dataset_names
from snnbench.sources import BENCHMARK_SOURCES

ENV = "../envs/snnbench.yaml"
RAW = f"{config['data_dir']}/raw"
PREPARED = f"{config['data_dir']}/prepared"
RESULTS = config["results_dir"]
LOGS = f"{config['results_dir']}/logs"


def get_uci_datasets():
    """The UCI datasets of this run; an unknown name stops the run here, naming the setting."""
    chosen = config["uci"]["datasets"]
    return list(dataset_names()) if chosen == "all" else check_names(chosen, setting="uci.datasets")


UCI_DATASETS = get_uci_datasets() if "uci" in config["benchmarks"] else []


def get_mirror_option():
    """`--mirror PATH` when the config names a mirror; else snnbench reads $SNNBENCH_MIRROR."""
    return f"--mirror {config['mirror']}" if config["mirror"] else ""


def get_download_options():
    d = config["download"]
    return f"--timeout {d['timeout_s']} --retries {d['retries']} --backoff {d['backoff_s']}"


def get_verified(benchmark):
    return [f"{RAW}/{source}/_verified.json" for source in BENCHMARK_SOURCES[benchmark]]


def raw_dir_of(verified_report):
    """data/raw/<source>/_verified.json -> data/raw"""
    return str(Path(verified_report).parent.parent)


def prepared_dir_of(card):
    """data/prepared/<benchmark>/<dataset>.json -> data/prepared"""
    return str(Path(card).parent.parent)


def get_prepared_cards():
    cards = [f"{PREPARED}/uci/{name}.json" for name in UCI_DATASETS]
    cards += [f"{PREPARED}/{b}/{b}.json" for b in ("tox21", "htru2") if b in config["benchmarks"]]
    return cards


def get_final_output():
    return [f"{RESULTS}/data/summary.csv", *get_train_summaries(), *get_report_inputs(), f"{RESULTS}/REPORT.md"]


def get_report_inputs(wildcards=None):
    """What the report links: the UCI tables when UCI is trained, and always the paper check."""
    inputs = [f"{RESULTS}/data/summary.csv", f"{RESULTS}/paper_check/table1.csv"]
    if "uci" in config["benchmarks"] and FNN_METHODS:
        inputs += [f"{RESULTS}/uci/table1.csv"]
    if "htru2" in config["benchmarks"] and methods_for("htru2"):
        inputs += [f"{RESULTS}/htru2/table3.csv"]
    if "tox21" in config["benchmarks"] and methods_for("tox21"):
        inputs += [f"{RESULTS}/tox21/table2.csv"]
    return inputs


def get_uci_summaries(wildcards=None):
    return [p for p in get_train_summaries() if p.startswith(f"{RESULTS}/train/uci/")]


def get_htru2_summaries(wildcards=None):
    return [p for p in get_train_summaries() if p.startswith(f"{RESULTS}/train/htru2/")]


def get_tox21_summaries(wildcards=None):
    return [p for p in get_train_summaries() if p.startswith(f"{RESULTS}/train/tox21/")]


# ---------------------------------------------------------------------------------- training
import functools
import json
import shlex

from snnbench import methods as method_registry
from snnbench.devices import gpu_resource_problem
from snnbench.errors import ConfigError
from snnbench.settings import StatsSettings, TrainSettings
from snnbench.grids import get_grid, load_grids, narrow
from snnbench.methods.custom import register_custom

TRAIN = config["train"]
TRAIN_SETTING_KEYS = [f for f in TrainSettings.__dataclass_fields__ if f in TRAIN]
# A user's methods (train.custom_methods): imported and checked now, before any job starts.
CUSTOM_METHODS = {spec.name: spec for spec in register_custom(TRAIN["custom_methods"])}
FNN_METHODS = [method_registry.check(m, kind="torch", setting="train.methods").name for m in TRAIN["methods"]]
BASELINE_METHODS = [method_registry.check(m, kind="sklearn", setting="train.baselines").name for m in TRAIN["baselines"]]
TORCH_METHOD_NAMES = method_registry.names("torch")
SKLEARN_METHOD_NAMES = method_registry.names("sklearn")
_GRIDS = load_grids(TRAIN["grids"]) if FNN_METHODS or BASELINE_METHODS else {}


def methods_for(benchmark):
    """The torch methods (train.methods) and the scikit-learn ones (train.baselines), on every benchmark."""
    return FNN_METHODS + BASELINE_METHODS


def get_custom_method_option(method):
    """`--custom-method JSON` for a method of train.custom_methods (the job registers it again), else ''."""
    if method not in CUSTOM_METHODS:
        return ""
    entry = json.dumps({method: TRAIN["custom_methods"][method]}, separators=(",", ":"), sort_keys=True)
    return f"--custom-method {shlex.quote(entry)}"


def get_method_grid(benchmark, method):
    """The method's grid after train.narrow ('*' first, then the method's own entry), as JSON."""
    grid = get_grid(_GRIDS, benchmark, method)
    rules_for = TRAIN["narrow"].get(benchmark, {})
    shared = {k: v for k, v in rules_for.get("*", {}).items() if k in grid}
    grid = narrow(grid, shared, setting=f"train.narrow.{benchmark}.*")
    grid = narrow(grid, rules_for.get(method, {}), setting=f"train.narrow.{benchmark}.{method}")
    return json.dumps(grid, separators=(",", ":"))


def get_train_settings(benchmark=None):
    """The train section's training settings as the JSON that `snnbench train --settings` reads;
    with the benchmark's train.subsample as max_train_rows where one is set."""
    settings = {k: TRAIN[k] for k in TRAIN_SETTING_KEYS}
    if benchmark in TRAIN["subsample"]:
        settings["max_train_rows"] = TRAIN["subsample"][benchmark]
    return json.dumps(settings, separators=(",", ":"), sort_keys=True)


def get_train_mem_mb(wildcards):
    return TRAIN["mem_mb"][wildcards.benchmark]


def get_train_fnn_threads(wildcards):
    """train.threads; a GPU job (train.gpus: 1) runs at one: its host work is one Python thread
    launching kernels, and more threads would only take cores from the jobs sharing its GPU."""
    return 1 if TRAIN["gpus"] else TRAIN["threads"]


@functools.cache
def get_train_fnn_gpu():
    """The `gpu` resource of an FNN training job: train.gpus, one GPU job slot. On this machine
    Snakemake's `--resources gpu=N` counts the slots (GPUs × train.jobs_per_gpu), and a missing
    or larger N stops the run before the first training job, with the number to give
    (snnbench.devices.gpu_resource_problem). SLURM places each job on its own GPU instead."""
    if TRAIN["gpus"] and workflow.local_exec and not workflow.remote_exec:
        given = workflow.global_resources["gpu"].value if "gpu" in workflow.global_resources else None
        problem = gpu_resource_problem(given, jobs_per_gpu=TRAIN["jobs_per_gpu"])
        if problem:
            raise ConfigError(problem)
    return TRAIN["gpus"]


def get_train_splits(benchmark, method=None):
    """UCI: data_py split columns; HTRU2: outer folds; Tox21: repeats (the SVM, deterministic,
    runs repeat 0 only: its other repeats would be identical)."""
    if benchmark == "tox21" and method == "SVM":
        return [0]
    if benchmark == "uci":
        return TRAIN["uci_splits"]
    if benchmark == "htru2":
        folds = TRAIN["htru2_folds"]
        n_folds = config["htru2"]["n_folds"]
        if folds == "all":
            return list(range(n_folds))
        bad = [f for f in folds if f >= n_folds]
        if bad:
            raise ValueError(f"train.htru2_folds {bad} out of range: htru2.n_folds is {n_folds} (folds 0..{n_folds - 1})")
        return folds
    return list(range(TRAIN["tox21_repeats"]))


def get_train_summaries():
    """Every training job's summary .json of this run."""
    datasets = {"uci": UCI_DATASETS, "tox21": ["tox21"], "htru2": ["htru2"]}
    return [
        f"{RESULTS}/train/{b}/{d}/{m}/split{s}.json"
        for b in config["benchmarks"]
        for d in datasets[b]
        for m in methods_for(b)
        for s in get_train_splits(b, m)
    ]


def _stats_settings():
    """The stats section, checked now: a bad value or an unknown reference method stops the run
    before any job starts."""
    stats = StatsSettings.from_dict(config.get("stats"))
    if stats.reference != "best" and stats.reference not in FNN_METHODS:
        raise ConfigError(f"stats.reference must be best or one of train.methods ({', '.join(FNN_METHODS)}): "
                          f"every table tests the others against it, however: reference={stats.reference!r}")
    return stats


STATS = _stats_settings()


def get_stats_settings():
    """The stats section as the JSON that `snnbench tables --stats` and `snnbench stats --stats` read."""
    return json.dumps(STATS.__dict__, separators=(",", ":"), sort_keys=True)


# Validate every grid and narrowing now: a typo stops the run before any job starts.
for _b in config["benchmarks"]:
    for _m in methods_for(_b):
        get_method_grid(_b, _m)
