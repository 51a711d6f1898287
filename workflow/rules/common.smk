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
    return [f"{RESULTS}/data/summary.csv"]
