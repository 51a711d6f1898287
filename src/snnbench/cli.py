"""``snnbench <group> <verb>``: each Snakemake rule calls exactly one verb; every verb works alone too."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import pandas as pd

from snnbench import __version__, benchmarks, methods
from snnbench.atomic import CANNOT_WRITE, atomic_write_csv
from snnbench.benchmarks import BENCHMARKS, SOURCES, get_source
from snnbench.benchmarks.uci.paper_check import P_TOLERANCE, agreement, paper_check
from snnbench.benchmarks.uci.robustness import robustness_report, verdict
from snnbench.contracts.results import output_paths
from snnbench.contracts.scores import ours
from snnbench.data.download import DownloadSettings, download_source, resolve_mirror
from snnbench.data.prepare import prepare_datasets
from snnbench.errors import SnnbenchError
from snnbench.evaluation.stats import write_statistics
from snnbench.methods.custom import register_custom
from snnbench.pipeline.aggregate import aggregate, benchmark_statistics, summary_paths
from snnbench.pipeline.data_summary import caption, summary_cards, write_summary
from snnbench.pipeline.html_report import write_html_report
from snnbench.pipeline.job import job_out, job_settings, record_failure, run_training_job
from snnbench.pipeline.plan import calibrate, plan_text
from snnbench.pipeline.report import run_summary, write_report
from snnbench.pipeline.runs import DEFAULT_CONFIG, check_method, job_grid, load_config, prepared_cards
from snnbench.pipeline.status import status_text
from snnbench.settings import RobustnessSettings, StatsSettings

log = logging.getLogger("snnbench")


def _add_download_settings(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mirror", default=None,
                   help="folder laid out like the reference mirror, read before the URLs (default: $SNNBENCH_MIRROR)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for a server (default 60)")
    p.add_argument("--retries", type=int, default=3, help="attempts per URL (default 3)")
    p.add_argument("--backoff", type=float, default=2.0,
                   help="seconds before the first retry, doubled each time (default 2)")


def cmd_download(args: argparse.Namespace) -> int:
    names = list(SOURCES) if args.sources == ["all"] else args.sources
    sources = [get_source(n) for n in names]
    mirror = resolve_mirror(args.mirror)
    settings = DownloadSettings(timeout_s=args.timeout, retries=args.retries, backoff_s=args.backoff)
    for source in sources:
        report = download_source(source, args.raw_dir, mirror=mirror, settings=settings)
        c = report["counts"]
        print(f"{source.name}: {c['ok']} verified, {c['missing']} missing, {c['mismatch']} checksum mismatches "
              f"-> {Path(args.raw_dir) / source.name}")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    spec = benchmarks.get(args.benchmark, setting="benchmark")
    statuses = prepare_datasets(spec, None if args.all else args.dataset, raw_dir=args.raw_dir,
                                prepared_dir=args.prepared_dir, options=_json_option(args.options, "--options"),
                                threads=args.threads)
    for name, (status, card) in statuses.items():
        print(f"{args.benchmark}/{name}: {status} -> {card}")
    failed = [n for n, (s, _) in statuses.items() if s == "failed"]
    if failed and not args.keep_going:
        log.error("%d dataset(s) failed: %s (their cards say why)", len(failed), ", ".join(failed))
        return 1
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    cards = summary_cards(args.prepared_dir, datasets=_json_option(args.datasets, "--datasets"), cards=args.cards)
    frame = write_summary(cards, args.out, split_columns=_json_option(args.split_columns, "--split-columns"))
    for benchmark in frame["benchmark"].unique():
        print(f"{benchmark}: {caption(frame, benchmark)}")
    print(f"-> {args.out}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    for benchmark in [args.benchmark] if args.benchmark else BENCHMARKS:
        for name in benchmarks.get(benchmark).dataset_names():
            print(f"{benchmark}\t{name}")
    return 0


def cmd_sources(args: argparse.Namespace) -> int:
    for benchmark in BENCHMARKS:
        for source in benchmarks.get(benchmark).sources:
            print(f"{source.name} ({benchmark}): {source.description}; {len(source.manifest)} files")
            for artifact in source.artifacts:
                print(f"  {artifact.filename} [{artifact.kind}]  mirror names: {', '.join(artifact.mirror)}")
                for url in artifact.urls:
                    print(f"    {url}")
    return 0


def _parse_assignment(text: str, option: str) -> tuple[str, object]:
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise SnnbenchError(f"{option} expects KEY=VALUE, however: {text!r}")
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise SnnbenchError(f"{option} {text!r}: the value is not valid YAML ({exc})") from exc


def _json_option(text: str | None, option: str) -> dict:
    import json

    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SnnbenchError(f"{option} is not valid JSON ({exc}): {text!r}") from exc
    if not isinstance(value, dict):
        raise SnnbenchError(f"{option} must be a JSON object, however: {text!r}")
    return value


STATS_HELP = ("how the statistics are computed, as a JSON object (the config's stats section: wilcoxon, alpha, "
              "missing, reference)")


def _stats_option(text: str | None):
    return StatsSettings.from_dict(_json_option(text, "--stats"), setting="--stats")


def _gpus_option(text: str) -> int | str:
    """--gpus: auto, 0 or 1 (snnbench.training.devices.resolve_gpus checks the number)."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be auto, 0 or 1, however: {text!r}") from None


def cmd_train(args: argparse.Namespace) -> int:
    register_custom(_json_option(args.custom_method, "--custom-method"), benchmarks=BENCHMARKS,
                    setting="--custom-method")
    check_method(args.method, setting="--method")
    values = _json_option(args.settings, "--settings")
    values.update(dict(_parse_assignment(t, "--set") for t in args.set or []))
    settings = job_settings(values, device=args.device)
    grid = job_grid(args.benchmark, args.method, grids_file=args.grids, grid=_json_option(args.grid, "--grid"),
                    narrowing=dict(_parse_assignment(t, "--narrow") for t in args.narrow or []))
    out = args.out or job_out(args.benchmark, args.dataset, args.method, args.split)
    paths = output_paths(out)
    summary = run_training_job(benchmark=args.benchmark, dataset=args.dataset, method=args.method, split=args.split,
                               grid=grid, settings=settings, prepared_dir=args.prepared_dir, out=out,
                               threads=args.threads, progress=not args.quiet, gpus=args.gpus,
                               jobs_per_gpu=args.jobs_per_gpu, gpu_lock_dir=args.gpu_lock_dir,
                               setting_names=("--device" if args.device else "train.device", "--gpus"))
    name = f"{args.benchmark}/{args.dataset}/{args.method}"
    if "counts" not in summary:  # the dataset is unavailable: nothing was trained
        print(f"{name}: {summary['reason']} -> {out}")
        return 0 if args.keep_going else 1
    counts = summary["counts"]
    if summary["selected"]:
        sel = summary["selected"]
        published = summary.get("published_test_metric")
        print(f"{name} split {args.split}: {summary['n_configs']} configs "
              f"({counts['ok']} ok, {counts['diverged']} diverged, {counts['failed']} failed) in "
              f"{summary['total_seconds']:.1f}s; selected {sel['hyperparameters']}"
              + ("" if sel["best_epoch"] is None else f" epoch {sel['best_epoch']}") + ": "
              f"val {sel['val_metric']:.4f}, test {summary['metric']} {sel['test_metric']:.4f}"
              + (f" (published {published:.4f})" if published is not None else ""))
    else:
        print(f"{name} split {args.split}: no configuration finished ({counts}); see {paths['table']}")
    print(f"-> {paths['table']}, {paths['summary']}, {paths['curves']}")
    return 0 if summary["selected"] or args.keep_going else 1


def cmd_record_failure(args: argparse.Namespace) -> int:
    """Write the outputs of a training job that crashed, so the run records it and goes on."""
    record_failure(benchmark=args.benchmark, dataset=args.dataset, method=args.method, split=args.split,
                   out=args.out, log_path=args.log, reason=args.reason)
    print(f"{args.benchmark}/{args.dataset}/{args.method} split {args.split}: recorded as failed -> {args.out}")
    return 0


def cmd_aggregate(args: argparse.Namespace) -> int:
    summaries = summary_paths(args.benchmark, train_dir=args.train_dir, jobs=_json_option(args.jobs, "--jobs"),
                              summaries=args.summaries)
    scores = aggregate(summaries, benchmark=args.benchmark, scores_out=args.out, failures_out=args.failures)
    jobs = ours(scores)
    print(f"{args.benchmark}: {len(jobs)} jobs ({(jobs['status'] == 'ok').sum()} ok), "
          f"{(scores['source'] == 'published').sum()} published rows -> {args.out}")
    return 0


def _read_scores(path: str) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"split": str})


def cmd_tables(args: argparse.Namespace) -> int:
    spec = benchmarks.get(args.benchmark, setting="--benchmark")
    scores = _read_scores(args.scores)
    context = {**_json_option(args.options, "--options"),
               "data_summary": pd.read_csv(args.data_summary) if args.data_summary else None}
    if args.n_folds is not None:  # the spelling before --options
        context["n_folds"] = args.n_folds
    (Path(args.out_dir) / "figures").mkdir(parents=True, exist_ok=True)  # the workflow's output, even if none is drawn
    statistics = benchmark_statistics(spec, scores, stats=_stats_option(args.stats), path=args.statistics)
    result = spec.tables(scores, Path(args.out_dir), settings=_json_option(args.settings, "--settings") or None,
                         statistics=statistics, context=context)
    for warning in result.get("warnings", []):
        log.warning("%s", warning)
    print(result["printed"])
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    if args.published or args.robustness:  # the spelling before the three verbs
        verb = "robustness" if args.robustness else "paper-check"
        raise SnnbenchError(f"`snnbench stats --{'robustness' if args.robustness else 'published'}` is now "
                            f"`snnbench {verb}` (`snnbench {verb} --help`)")
    if not args.scores:
        raise SnnbenchError("snnbench stats needs --scores (scores.csv from `snnbench aggregate`)")
    spec = benchmarks.get(args.benchmark, setting="--benchmark")
    frame = benchmark_statistics(spec, _read_scores(args.scores), stats=_stats_option(args.stats))
    if frame is None:
        having = [b for b in BENCHMARKS if benchmarks.get(b).statistics is not None]
        raise SnnbenchError(f"snnbench stats computes the statistics of {', '.join(having)}; "
                            f"{args.benchmark}'s tables have no test statistics")
    out = args.out or f"results/{args.benchmark}/stats.csv"
    write_statistics(frame, out)
    print(f"{args.benchmark} statistics: {len(frame)} rows -> {out}")
    return 0


def cmd_paper_check(args: argparse.Namespace) -> int:
    tables = paper_check(args.out_dir, stats=_stats_option(args.stats))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        for name, frame in tables.items():
            print(f"== {name} (recomputed from the paper's published accuracies)")
            print(frame.to_string(index=False))
    within = ", ".join(f"{table} {k} of {n}" for table, (k, n) in agreement(tables).items())
    print(f"p-values within {P_TOLERANCE:.0%} of the published ones: {within}")
    print(f"-> {args.out_dir}")
    return 0


def cmd_robustness(args: argparse.Namespace) -> int:
    if bool(args.scores) == bool(args.published):
        raise SnnbenchError("snnbench robustness needs --published (the paper's numbers) or --scores "
                            "results/uci/scores.csv (ours), one of them")
    settings = RobustnessSettings.from_dict(_json_option(args.robustness_settings, "--robustness-settings"))
    report, paths = robustness_report(None if args.published else _read_scores(args.scores), settings=settings,
                                      stats=_stats_option(args.stats), out_dir=args.out_dir,
                                      train_dir=None if args.published else args.train_dir)
    print(verdict(report))
    print("-> " + ", ".join(str(p) for p in paths.values()))
    return 0


def _run_config(args: argparse.Namespace) -> dict:
    """The config of the run that `plan` and `status` describe: --configfile, --config, --set."""

    overrides = dict(_parse_assignment(t, "--config") for t in args.config or [])
    config = load_config(args.configfile or [DEFAULT_CONFIG], overrides=overrides)
    if args.set:
        config["train"].update(dict(_parse_assignment(t, "--set") for t in args.set))
    return config


def cmd_plan(args: argparse.Namespace) -> int:
    config = _run_config(args)
    calibration = calibrate(int(config["train"]["threads"]), refresh=args.recalibrate)
    lines, rows = plan_text(config, calibration=calibration, cores=args.cores)
    print("\n".join(lines))
    if args.out:
        atomic_write_csv(Path(args.out), rows)
        print(f"-> {args.out}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    config = _run_config(args)
    lines, _ = status_text(config, calibration=calibrate(int(config["train"]["threads"])), cores=args.cores)
    print("\n".join(lines))
    results = Path(config["results_dir"])
    summary, data_failed = run_summary(prepared_cards(config),
                                       [results / b / "failures.csv" for b in config["benchmarks"]],
                                       results / "REPORT.md")
    print("\n".join(summary))
    return 1 if data_failed else 0


def cmd_report(args: argparse.Namespace) -> int:
    print(f"-> {write_report(args.results_dir, args.out)}")
    if args.html:
        print(f"-> {write_html_report(args.results_dir, args.html)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="snnbench", description=__doc__)
    parser.add_argument("--version", action="version", version=f"snnbench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    groups = parser.add_subparsers(dest="group", required=True)

    data = groups.add_parser("data", help="download, verify and prepare the benchmarks' data").add_subparsers(
        dest="verb", required=True)

    p = data.add_parser("download", help="fetch a source (mirror first, then its URLs), extract and verify every file")
    p.add_argument("sources", nargs="+", help="source names (`snnbench data sources`), or `all`")
    p.add_argument("--raw-dir", default="data/raw", help="where verified files go (default data/raw)")
    _add_download_settings(p)
    p.set_defaults(func=cmd_download)

    p = data.add_parser("prepare", help="verified originals -> one prepared dataset (card .json + arrays .npz)")
    p.add_argument("benchmark", choices=BENCHMARKS)
    p.add_argument("--dataset", action="append", help="dataset name (repeatable); default: all of the benchmark's")
    p.add_argument("--all", action="store_true", help="every dataset of the benchmark")
    p.add_argument("--raw-dir", default="data/raw")
    p.add_argument("--prepared-dir", default="data/prepared")
    p.add_argument("--keep-going", action="store_true",
                   help="exit 0 even if a dataset failed (its card records why); the pipeline uses this")
    p.add_argument("--threads", type=int, help="worker processes, for a benchmark whose preparation takes n_jobs "
                                                "(tox21's rdkit featurisation)")
    p.add_argument("--options", metavar="JSON",
                   help="the benchmark's preparation options as a JSON object, as its config section gives them "
                        "(htru2: n_folds, seed; tox21: features, sparse_min_frequency, ecfp_radius, n_jobs)")
    p.set_defaults(func=cmd_prepare)

    p = data.add_parser("summary", help="one row per dataset of every benchmark -> CSV")
    p.add_argument("cards", nargs="*", help="card files (default: every card under --prepared-dir)")
    p.add_argument("--prepared-dir", default="data/prepared")
    p.add_argument("--datasets", metavar="JSON", help='the cards to read under --prepared-dir: '
                                                      '{benchmark: [dataset, ...] or "all"} (what the workflow passes)')
    p.add_argument("--split-columns", metavar="JSON",
                   help="the split columns split_sound judges, {benchmark: [column, ...]} (default: column 0; "
                        "the workflow passes the run's, train.uci_splits)")
    p.add_argument("--out", default="results/data/summary.csv")
    p.set_defaults(func=cmd_summary)

    p = data.add_parser("list", help="dataset names of a benchmark")
    p.add_argument("benchmark", nargs="?", choices=BENCHMARKS)
    p.set_defaults(func=cmd_list)

    p = groups.add_parser("train", help="train a method's whole grid on one dataset and split; select on validation")
    p.add_argument("--benchmark", required=True, choices=BENCHMARKS)
    p.add_argument("--dataset", required=True, help="dataset name (tox21 and htru2: the benchmark's name)")
    p.add_argument("--method", required=True,
                   help=f"a registered method ({', '.join(methods.names())}), or one of --custom-method")
    p.add_argument("--custom-method", metavar="JSON",
                   help="a user's method as train.custom_methods declares it, e.g. "
                        "'{\"MyMLP\": {\"kind\": \"torch\", \"build\": \"my_methods:build_mlp\", \"grid\": {...}}}'")
    p.add_argument("--split", type=int, default=0,
                   help="uci: data_py split column 0-3; htru2: outer test fold 0-9; tox21: repeat number (default 0)")
    p.add_argument("--prepared-dir", default="data/prepared")
    p.add_argument("--out", help="results table (.csv); the summary .json and curves .curves.csv.gz go beside it "
                                 "(default results/train/<benchmark>/<dataset>/<method>/split<k>.csv)")
    p.add_argument("--grids", help="grid file laid out like config/grids.yaml (default: the paper's grids, shipped)")
    p.add_argument("--grid", help="the grid itself as a JSON object (overrides --grids)")
    p.add_argument("--narrow", action="append", metavar="KEY=VALUES",
                   help="keep only these values of a hyperparameter, e.g. n_layers=[2,8] (repeatable)")
    p.add_argument("--settings", help="training settings as a JSON object (the config's train section)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="one training setting, e.g. epochs=20 (repeatable)")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N (overrides the settings)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--gpus", type=_gpus_option, default="auto",
                   help="GPUs this job uses (the rule's `gpu` resource): 1: claim a free GPU job slot of those "
                        "visible (snnbench.training.devices) unless SLURM assigned one; 0: none, train on the CPU; "
                        "auto (default): 1 where GPUs are visible and --device is not cpu, else 0")
    p.add_argument("--jobs-per-gpu", type=int, default=1,
                   help="training jobs that may share one GPU (train.jobs_per_gpu): with --gpus 1, claim one of "
                        "this many job slots per GPU, on the least busy GPU (default 1: a GPU per job)")
    p.add_argument("--gpu-lock-dir", default=None,
                   help="folder of the GPU claim locks (default $SNNBENCH_GPU_LOCK_DIR or .snakemake/gpu-locks)")
    p.add_argument("--quiet", action="store_true", help="no per-configuration progress")
    p.add_argument("--keep-going", action="store_true",
                   help="exit 0 when the dataset is unavailable or no configuration finished (the summary records it)")
    p.set_defaults(func=cmd_train)

    p = groups.add_parser("record-failure", help="write the outputs of a crashed training job as a failed result")
    p.add_argument("--benchmark", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--method", required=True)
    p.add_argument("--split", type=int, required=True)
    p.add_argument("--out", required=True, help="the job's results table (.csv)")
    p.add_argument("--log", help="the job's log; its last lines go into the reason")
    p.add_argument("--reason", default="non-zero exit", help="what happened")
    p.set_defaults(func=cmd_record_failure)

    p = groups.add_parser("aggregate", help="training summaries -> scores.csv (ours + published rows) and failures.csv")
    p.add_argument("summaries", nargs="*",
                   help="summary .json files (default: all under --train-dir for the benchmark)")
    p.add_argument("--benchmark", required=True, choices=BENCHMARKS)
    p.add_argument("--train-dir", default="results/train")
    p.add_argument("--jobs", metavar="JSON", help='the jobs whose summaries to read, under --train-dir: '
                                                  '{"datasets": [...] or "all", "splits": {method: [split, ...]}} '
                                                  '(what the workflow passes)')
    p.add_argument("--out", required=True, help="scores table (.csv)")
    p.add_argument("--failures", help="failures table (.csv)")
    p.set_defaults(func=cmd_aggregate)

    p = groups.add_parser("tables", help="a benchmark's tables (ours beside the published) and figures")
    p.add_argument("--benchmark", default=BENCHMARKS[0], choices=BENCHMARKS)
    p.add_argument("--scores", required=True, help="scores.csv from `snnbench aggregate`")
    p.add_argument("--data-summary", help="results/data/summary.csv (uci)")
    p.add_argument("--options", metavar="JSON", help="the benchmark's table options from the config (its spec's "
                                                     "table_options), e.g. htru2: {\"n_folds\": 10}")
    p.add_argument("--n-folds", type=int, help=argparse.SUPPRESS)  # now --options '{"n_folds": N}'

    p.add_argument("--out-dir", required=True)
    p.add_argument("--settings", help="the run's training settings as JSON (listed in the captions)")
    p.add_argument("--statistics", help="uci, htru2: the statistics the tables format (stats.csv from `snnbench "
                                        "stats`); without it they are computed here, with --stats")
    p.add_argument("--stats", help=STATS_HELP)
    p.set_defaults(func=cmd_tables)

    p = groups.add_parser("stats", help="the statistics the tables print (UCI, HTRU2) -> stats.csv")
    p.add_argument("--scores", help="scores.csv from `snnbench aggregate`")
    p.add_argument("--benchmark", default=BENCHMARKS[0], choices=BENCHMARKS)
    p.add_argument("--out", help="the statistics file (default results/<benchmark>/stats.csv)")
    p.add_argument("--stats", help=STATS_HELP)
    p.add_argument("--published", action="store_true", help=argparse.SUPPRESS)  # now `snnbench paper-check`
    p.add_argument("--robustness", action="store_true", help=argparse.SUPPRESS)  # now `snnbench robustness`
    p.add_argument("--out-dir", help=argparse.SUPPRESS)  # of those two spellings
    p.add_argument("--robustness-settings", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_stats)

    p = groups.add_parser("paper-check", help="UCI: the statistics recomputed on the paper's own accuracies "
                                              "(Table A11 and Fernandez-Delgado's) against the paper's stars")
    p.add_argument("--out-dir", default="results/paper_check")
    p.add_argument("--stats", help=STATS_HELP)
    p.set_defaults(func=cmd_paper_check)

    p = groups.add_parser("robustness", help="UCI: how robust the conclusion is (multiple-comparison corrections, "
                                             "Friedman / Nemenyi, Bayesian signed-rank, bootstrap, conventions, "
                                             "granularity) -> OUT_DIR/robustness.{csv,md}, "
                                             "robustness_per_dataset.csv, robustness_figures/*.png")
    p.add_argument("--scores", help="scores.csv of our UCI run (results/uci/scores.csv)")
    p.add_argument("--published", action="store_true", help="the paper's published numbers instead")
    p.add_argument("--train-dir", help="with --scores: our UCI training results (results/train/uci); adds the "
                                       "selection sensitivity, re-selected from the saved curves")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--stats", help=STATS_HELP)
    p.add_argument("--robustness-settings", metavar="JSON",
                   help="the config's robustness section as JSON, e.g. '{\"rope\": 0.02, \"draws\": 2000}'")
    p.set_defaults(func=cmd_robustness)

    def _add_run_config(p: argparse.ArgumentParser) -> None:
        p.add_argument("--configfile", nargs="+", help="config files laid over each other, as snakemake --configfile "
                                                       "(default config/config.yaml)")
        p.add_argument("--config", nargs="+", metavar="KEY=VALUE",
                       help="top-level settings over the files, as snakemake --config (e.g. results_dir=/scratch/r)")
        p.add_argument("--cores", type=int, help="cores the run uses (default: this machine's)")
        p.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="a train setting, e.g. epochs=20 (repeatable)")

    p = groups.add_parser("plan", help="the size of a run before it starts: jobs, configurations, steps, FLOPs, "
                                       "and its projected time on this machine and on one GPU")
    _add_run_config(p)
    p.add_argument("--recalibrate", action="store_true", help="measure this machine again (the calibration is cached)")
    p.add_argument("--out", help="one row per job group as CSV")
    p.set_defaults(func=cmd_plan)

    p = groups.add_parser("status", help="how far a run is: training jobs done, started and left weighted by their "
                                         "work (FLOPs), an ETA, and the datasets or jobs that failed")
    _add_run_config(p)
    p.set_defaults(func=cmd_status)

    p = groups.add_parser("report", help="results/REPORT.md linking every table and figure (and --html: report.html)")
    p.add_argument("--results-dir", default="results")
    p.add_argument("--out", default="results/REPORT.md")
    p.add_argument("--html", help="also the HTML front page (results/report.html): what was run, the main tables "
                                  "rendered with their captions, figures inline, links to every table")
    p.set_defaults(func=cmd_report)

    p = data.add_parser("sources", help="every source: URLs, mirror names, file counts")
    p.set_defaults(func=cmd_sources)
    return parser




def _say(message: str) -> None:
    """``message`` on stderr (a workflow job's log) and, in a workflow job, on the console it was
    started from (``$SNNBENCH_CONSOLE_FD``, which the rules' shell prefix keeps open): seen even
    where the log cannot be written (a full disk leaves it empty)."""
    try:
        print(message, file=sys.stderr, flush=True)
    except OSError:
        pass
    fd = os.environ.get("SNNBENCH_CONSOLE_FD")
    if fd:
        try:
            os.write(int(fd), f"{message}\n".encode())
        except (OSError, ValueError):
            pass


def _unwritable(exc: OSError, where: str | None = None) -> str:
    name = exc.filename or where
    return (f"snnbench: error: {f'{name}: ' if name else ''}[Errno {exc.errno}] {exc.strerror}; "
            f"{CANNOT_WRITE[exc.errno]}")


def _flush_output(probe: bool = False) -> bool:
    """Flush this command's output (``probe``: a newline first, to test it); where it cannot be
    written (the log of a workflow job on a full disk), say so on the console, naming it, drop the
    rest and return False."""
    try:
        if probe:
            sys.stdout.write("\n")
        sys.stdout.flush()
        sys.stderr.flush()
        return True
    except OSError as exc:
        if exc.errno not in CANNOT_WRITE:
            raise
        try:
            log = os.readlink("/proc/self/fd/1")
        except OSError:
            log = "standard output"
        _say(_unwritable(exc, f"{log} (this command's output)"))
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the interpreter's last flush goes here
        return False


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        rc = args.func(args)
    except SnnbenchError as exc:
        print(f"snnbench: error: {exc}", file=sys.stderr)
        rc = 2
    except OSError as exc:
        if exc.errno not in CANNOT_WRITE:
            raise
        # no file named: a print into a full log (the probe says so, naming it), or an output written in place
        if exc.filename or _flush_output(probe=True):
            _say(_unwritable(exc))
        rc = 2
    _flush_output()
    return rc


if __name__ == "__main__":
    sys.exit(main())
