# Configuration, validation and the helpers the rules use, named for intent.
import json
import os
import sys
from pathlib import Path

from snakemake.logging import logger as _snakemake_logger
from snakemake.utils import validate

# The rules run the snnbench of this checkout (src/), with the Python of the project's virtual
# environment that runs Snakemake, or with a rule's conda environment when conda deployment is on.
SRC_DIR = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC_DIR)
from snnbench.pipeline.console import ConfigErrorFilter, ConsoleFilter

_snakemake_logger.addFilter(ConfigErrorFilter())  # a config mistake prints its message, no traceback
validate(config, schema="../schemas/config.schema.yaml")

_USES_CONDA = any("conda" in str(m).lower() for m in workflow.deployment_settings.deployment_method)
_PYTHON_ON_PATH = "" if _USES_CONDA else f'export PATH="{Path(sys.executable).parent}:$PATH"; '
# fd 3 keeps the job's console open behind its `> {log} 2>&1`: a file that cannot be written (a
# full disk leaves the log empty too) is named there (snnbench.cli, SNNBENCH_CONSOLE_FD).
shell.prefix(
    f'set -euo pipefail; exec 3>&2; export SNNBENCH_CONSOLE_FD=3; export PYTHONPATH="{SRC_DIR}${{{{PYTHONPATH:+:$PYTHONPATH}}}}"; {_PYTHON_ON_PATH}'
)

if not workflow.remote_exec:  # a dry run keeps Snakemake's own listing (known only once it executes)
    _snakemake_logger.addFilter(ConsoleFilter(bypass=lambda: workflow.dryrun))

from snnbench import benchmarks as benchmark_registry
from snnbench.errors import ConfigError
from snnbench.benchmarks import BENCHMARK_SOURCES

ENV = "../envs/snnbench.yaml"
RAW = f"{config['data_dir']}/raw"
PREPARED = f"{config['data_dir']}/prepared"
RESULTS = config["results_dir"]
LOGS = f"{config['results_dir']}/logs"


BENCHMARKS = [benchmark_registry.get(b).name for b in config["benchmarks"]]  # unknown: stops here, named


def get_run_datasets():
    """benchmark -> the datasets this run trains (uci.datasets for UCI); an unknown name stops the
    run here, naming the setting."""
    return {b: benchmark_registry.get(b).run_datasets(config) for b in BENCHMARKS}


RUN_DATASETS = get_run_datasets()


def compact_datasets(benchmark):
    """The run's datasets of a benchmark for a command line: "all", or their names."""
    every = list(benchmark_registry.get(benchmark).dataset_names())
    return "all" if RUN_DATASETS[benchmark] == every else RUN_DATASETS[benchmark]


def get_mirror_option():
    """`--mirror PATH` when the config names a mirror; else snnbench reads $SNNBENCH_MIRROR."""
    return f"--mirror {config['mirror']}" if config["mirror"] else ""


def get_mirror_copies(wildcards):
    """The mirror's copies of the source (files or unpacked folders): inputs of its download job, so
    that a mirror file fixed after a checksum failure (newer than the verified report) makes the
    next run download, verify and prepare again what depended on it."""
    from snnbench.data.download import mirror_copies
    from snnbench.benchmarks import get_source

    return [str(p) for p in mirror_copies(get_source(wildcards.source), config["mirror"] or None, RAW)]


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
    return [f"{PREPARED}/{b}/{d}.json" for b in BENCHMARKS for d in RUN_DATASETS[b]]


def warn_missing_prepared():
    """A prepared file deleted after training: Snakemake says "Nothing to be done" (the results
    trained on it are up to date, an intermediate file missing); say so, with the recipe."""
    from snnbench.contracts.prepared import read_card, rebuild_hint

    for card in map(Path, get_prepared_cards()):
        if not (Path(RESULTS) / "train" / card.parent.name / card.stem).is_dir():
            continue
        missing = card
        if card.exists():
            try:
                meta = read_card(card)
            except Exception:  # noqa: BLE001 - the end of the run reports a card that does not read back
                continue
            missing = card.with_name(meta.get("arrays") or card.stem)
            if meta["status"] != "ok" or missing.is_file():
                continue
        print(f"snnbench: {missing} is missing, but results trained on it exist; {rebuild_hint(card)}", file=sys.stderr)


warn_missing_prepared()


def get_prepare_options(benchmark):
    """The benchmark's preparation options from its config section, as the JSON that `snnbench
    data prepare --options` reads."""
    return json.dumps(benchmark_registry.get(benchmark).prepare_options(config), separators=(",", ":"), sort_keys=True)


def get_table_options(benchmark):
    """The benchmark's table options from the config (its spec's ``table_options``), as JSON."""
    return json.dumps(benchmark_registry.get(benchmark).table_options(config), separators=(",", ":"), sort_keys=True)


def get_final_output():
    return [
        f"{RESULTS}/data/summary.csv",
        *get_train_summaries(),
        *get_report_inputs(),
        f"{RESULTS}/REPORT.md",
        f"{RESULTS}/report.html",
    ]


def get_tables_done(benchmark):
    """The tables rule's last output: every table of the benchmark is written before it."""
    return f"{RESULTS}/{benchmark}/captions.json"


def get_report_inputs(wildcards=None):
    """What the report links: each trained benchmark's tables, always the paper check, and the
    robustness reports (snnbench.benchmarks.uci.robustness)."""
    inputs = [
        f"{RESULTS}/data/summary.csv",
        f"{RESULTS}/paper_check/table1.csv",
        *[f"{RESULTS}/{source}/robustness.md" for source in get_robustness_sources()],
    ]
    for b in BENCHMARKS:
        if FNN_METHODS if benchmark_registry.get(b).tables_need_torch else methods_for(b):
            inputs.append(get_tables_done(b))
    return inputs


def get_aggregate_jobs(wildcards):
    """The benchmark's training jobs as the compact JSON `snnbench aggregate --jobs` reads (the
    summaries' paths would make a command line of tens of thousands of characters)."""
    b = wildcards.benchmark
    jobs = {"datasets": compact_datasets(b), "splits": {m: get_train_splits(b, m) for m in methods_for(b)}}
    return json.dumps(jobs, separators=(",", ":"))


def get_benchmark_summaries(wildcards):
    """Every training job's summary of one benchmark."""
    return [p for p in get_train_summaries() if p.startswith(f"{RESULTS}/train/{wildcards.benchmark}/")]


def get_tables_inputs(wildcards):
    """The scores, the statistics (for a benchmark that has them) and the data summary."""
    spec = benchmark_registry.get(wildcards.benchmark)
    inputs = {"scores": f"{RESULTS}/{wildcards.benchmark}/scores.csv", "data_summary": f"{RESULTS}/data/summary.csv"}
    if spec.statistics is not None:
        inputs["stats"] = f"{RESULTS}/{wildcards.benchmark}/stats.csv"
    return inputs


def get_statistics_option(wildcards, input):
    return f"--statistics {input.stats}" if "stats" in input.keys() else ""


BENCHMARKS_WITH_STATISTICS = [b for b in benchmark_registry.BENCHMARKS if benchmark_registry.get(b).statistics]


# ---------------------------------------------------------------------------------- training
import functools
import shlex

from snnbench import methods as method_registry
from snnbench.training.devices import device_problem, gpu_resource_problem, resolve_gpus, run_start_line
from snnbench.settings import StatsSettings, TrainSettings
from snnbench.pipeline.runs import load_grids
from snnbench.pipeline.runs import check_shared_narrowing, grid_json, narrowed_grid, train_jobs, train_methods
from snnbench.methods.custom import ORIGIN as CUSTOM_ORIGIN

TRAIN = config["train"]
TRAIN_SETTING_KEYS = [f for f in TrainSettings.__dataclass_fields__ if f in TRAIN]
# The methods, a user's (train.custom_methods) registered and every one checked now, before any job starts.
FNN_METHODS, BASELINE_METHODS = train_methods(TRAIN)
CUSTOM_METHODS = set(method_registry.names(origin=CUSTOM_ORIGIN))
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
    """The method's grid after train.narrow (snnbench.pipeline.runs.narrowed_grid), as JSON."""
    return grid_json(narrowed_grid(TRAIN, _GRIDS, benchmark, method))


def get_train_settings(benchmark=None):
    """The train section's training settings as the JSON that `snnbench train --settings` reads;
    with the benchmark's train.subsample as max_train_rows where one is set."""
    settings = {k: TRAIN[k] for k in TRAIN_SETTING_KEYS}
    if benchmark in TRAIN["subsample"]:
        settings["max_train_rows"] = TRAIN["subsample"][benchmark]
    return json.dumps(settings, separators=(",", ":"), sort_keys=True)


TRAIN_RETRIES = 1  # a training job killed by a signal runs once more, with twice the memory


def get_train_mem_mb(wildcards, attempt):
    """train.mem_mb for the benchmark (4000 if not listed), times the attempt: a job the kernel
    killed for memory asks for more when Snakemake retries it."""
    return TRAIN["mem_mb"].get(wildcards.benchmark, 4000) * attempt


def _gpus_from_scheduler():
    """Whether a scheduler, not a claim on this machine, gives each training job its GPU: the
    Snakemake inside a cluster job, a run inside a SLURM allocation, or a `gpu` or `gres` that
    --set-resources gives train_fnn (profiles/slurm)."""
    given = workflow.resource_settings.overwrite_resources.get("train_fnn", {})
    return workflow.remote_exec or "SLURM_JOB_ID" in os.environ or "gpu" in given or "gres" in given


def _train_gpus():
    """train.gpus resolved now (snnbench.training.devices.resolve_gpus: auto is 1 where GPUs are visible,
    else 0), or None for `auto` where a scheduler gives the GPUs: each job then resolves it where
    it runs. A train.device that contradicts it stops the run here, naming both settings."""
    if TRAIN["gpus"] == "auto" and _gpus_from_scheduler():
        return None
    gpus = resolve_gpus(TRAIN["gpus"], device=TRAIN["device"])
    if not _gpus_from_scheduler():  # under a scheduler each job checks what it was given
        problem = device_problem(TRAIN["device"], gpus)
        if problem:
            raise ConfigError(problem)
    return gpus


TRAIN_GPUS = _train_gpus()


def get_train_fnn_threads(wildcards):
    """train.threads; a GPU job (train.gpus: 1) runs at one: its host work is one Python thread
    launching kernels, and more threads would only take cores from the jobs sharing its GPU."""
    return 1 if TRAIN_GPUS is not None and TRAIN_GPUS.gpus else TRAIN["threads"]


@functools.cache
def get_train_fnn_gpu():
    """The `gpu` resource of an FNN training job: train.gpus (resolved), one GPU job slot. On this
    machine Snakemake's `--resources gpu=N` counts the slots (GPUs × train.jobs_per_gpu), and a
    missing or larger N stops the run before the first training job, with the number to give
    (snnbench.training.devices.gpu_resource_problem); the run's start says the slots and whether MPS runs,
    or that visible GPUs go unused (snnbench.training.devices.run_start_line). Under a scheduler (SLURM) its
    profile's set-resources gives each job its GPU instead."""
    if TRAIN_GPUS is None:
        return 0
    if workflow.local_exec and not workflow.remote_exec and not _gpus_from_scheduler():
        if TRAIN_GPUS.gpus:
            given = workflow.global_resources["gpu"].value if "gpu" in workflow.global_resources else None
            problem = gpu_resource_problem(given, jobs_per_gpu=TRAIN["jobs_per_gpu"], gpus=TRAIN_GPUS)
            if problem:
                raise ConfigError(problem)
        line = run_start_line(TRAIN_GPUS, jobs_per_gpu=TRAIN["jobs_per_gpu"])
        if line:
            print(line)
    return TRAIN_GPUS.gpus


def get_train_fnn_gpus_option(wildcards, resources):
    """`snnbench train --gpus`: the job's `gpu` resource, or auto where a scheduler gives the GPU
    (the job resolves it, snnbench.training.devices.resolve_gpus)."""
    return "auto" if TRAIN_GPUS is None else resources.gpu


def get_train_splits(benchmark, method=None):
    """The splits a run trains, as the benchmark says (UCI: data_py split columns; HTRU2: outer
    folds; Tox21: repeats, the deterministic SVM once)."""
    return benchmark_registry.get(benchmark).run_splits(config, method)


def get_trained_splits():
    """Every split any method trains, per benchmark, as JSON: the split columns whose classes
    results/data/summary.csv's split_sound judges."""
    splits = {b: sorted({s for m in methods_for(b) for s in get_train_splits(b, m)}) for b in BENCHMARKS}
    return json.dumps(splits, separators=(",", ":"))


@functools.cache
def get_train_jobs():
    """Every training job of the run (snnbench.pipeline.runs.train_jobs, which `snnbench plan` counts too)."""
    return train_jobs(config)


def get_train_summaries():
    """Every training job's summary .json of this run."""
    return [
        f"{RESULTS}/train/{j.benchmark}/{j.dataset}/{j.method}/split{s}.json"
        for j in get_train_jobs()
        for s in j.splits
    ]


def _stats_settings():
    """The stats section, checked now: a bad value or an unknown reference method stops the run
    before any job starts."""
    stats = StatsSettings.from_dict(config.get("stats"))
    if stats.reference != "best" and stats.reference not in FNN_METHODS:
        raise ConfigError(
            f"stats.reference must be best or one of train.methods ({', '.join(FNN_METHODS)}): "
            f"every table tests the others against it, however: reference={stats.reference!r}"
        )
    return stats


STATS = _stats_settings()


def get_stats_settings():
    """The stats section as the JSON that `snnbench tables --stats` and `snnbench stats --stats` read."""
    return json.dumps(STATS.__dict__, separators=(",", ":"), sort_keys=True)


def check_per_benchmark_settings():
    """train.narrow, train.subsample and train.mem_mb name registered benchmarks, and train.narrow registered
    methods (or '*'): a misspelled name would otherwise be ignored and its method train its full grid."""
    for setting in ("narrow", "subsample", "mem_mb"):
        for b in TRAIN[setting]:
            benchmark_registry.get(b, setting=f"train.{setting}")
    for b, rules in TRAIN["narrow"].items():
        for m in rules:
            if m != "*":
                method_registry.get(m, setting=f"train.narrow.{b}")


check_per_benchmark_settings()
# Validate every grid and narrowing now: a typo stops the run before any job starts.
for _b in BENCHMARKS:
    check_shared_narrowing(TRAIN, _GRIDS, _b, methods_for(_b))
    for _m in methods_for(_b):
        get_method_grid(_b, _m)


def print_status_line():
    """The last line of `snnbench status`: training done by work (FLOPs), what is left, failures."""
    from snnbench.pipeline.plan import calibrate
    from snnbench.pipeline.status import status_text

    try:
        print(status_text(config, calibration=calibrate(int(config["train"]["threads"])))[0][-1])
    except Exception as exc:  # the status informs; it never changes a run's outcome
        print(f"snnbench status unavailable: {type(exc).__name__}: {exc}")


def get_status_command():
    """`snnbench status` for this run: the Snakefile's configfile first (Snakemake loads it first and
    lays the --configfile files over it, although workflow.configfiles lists it last; dropped by
    --replace-workflow-config), then the --configfile files in their order, and the --config values
    with results_dir and data_dir."""
    from snnbench.pipeline.status import status_command

    given = [Path(f) for f in workflow.config_settings.configfiles]
    own = (
        []
        if workflow.config_settings.replace_workflow_config
        else [f for f in workflow.configfiles if Path(f).absolute() not in given]
    )
    overrides = {
        **workflow.config_settings.config,
        "results_dir": RESULTS,
        "data_dir": config["data_dir"],
    }
    return status_command([*own, *given], overrides)


def get_robustness_sources():
    """paper_check (the published numbers), always; uci (ours) when the run trains UCI and the
    reference method (robustness.reference)."""
    reference = ROBUSTNESS.reference
    return ["paper_check"] + (["uci"] if "uci" in BENCHMARKS and reference in FNN_METHODS else [])


def get_robustness_inputs(wildcards):
    return {"scores": f"{RESULTS}/uci/scores.csv"} if wildcards.source == "uci" else {}


def get_robustness_scores_option(wildcards, input):
    if wildcards.source != "uci":
        return "--published"
    return f"--scores {input.scores} --train-dir {RESULTS}/train/uci"


def get_robustness_settings():
    """The robustness section as the JSON that `snnbench stats --robustness-settings` reads."""
    from dataclasses import asdict

    return json.dumps(asdict(ROBUSTNESS), separators=(",", ":"), sort_keys=True)


def _robustness_settings():
    """The robustness section, checked now; an unknown reference method stops the run."""
    from snnbench.settings import RobustnessSettings

    settings = RobustnessSettings.from_dict(config.get("robustness"))
    method_registry.get(settings.reference, setting="robustness.reference")
    return settings


ROBUSTNESS = _robustness_settings()
