"""How true `snnbench status` is during a run: its done fraction and ETA against the time the rest took.

Runs the workflow (default: the quick tour, ``--configfile config/quick.yaml --cores 2``) with its
data and results under --workdir, and every --interval seconds reads the run's status in this
process (``snnbench.pipeline.status.progress``: what `snnbench status` prints). Each sample is kept
in ``<workdir>/status_samples.jsonl`` (seconds since the start, training share done by work, ETA
in seconds and how it was estimated, jobs finished and not run); the run's console is in
``<workdir>/console.log``.

At the end (or with --analyse on a recorded samples file) it prints, at the first sample with at
least a quarter of the training work done and at every later one: the ETA, the time the training
actually took from then on (to the last training summary written) and their ratio; the target is
a ratio within 1/1.5..1.5 from a quarter of the work on.

    SNNBENCH_MIRROR=/work/shared/data python benchmarks/status_eta.py --workdir /tmp/tour
    python benchmarks/status_eta.py --analyse /tmp/tour/status_samples.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = 1.5


def run_config(workdir: Path, configfiles: list[str]) -> tuple[list[str], dict]:
    from snnbench.pipeline.runs import DEFAULT_CONFIG, load_config

    overrides = {"data_dir": str(workdir / "data"), "results_dir": str(workdir / "results")}
    files = [str(DEFAULT_CONFIG), *configfiles]
    return files, load_config(files, overrides=overrides)


def record(workdir: Path, configfiles: list[str], cores: int, interval: float, extra: list[str]) -> Path:
    from snnbench.pipeline.plan import calibrate
    from snnbench.pipeline.status import progress

    workdir.mkdir(parents=True, exist_ok=True)
    files, config = run_config(workdir, configfiles)
    calibration = calibrate(int(config["train"]["threads"]))
    samples = workdir / "status_samples.jsonl"
    command = [sys.executable, "-m", "snakemake", "--configfile", *configfiles, "--cores", str(cores), "--config",
               f"data_dir={config['data_dir']}", f"results_dir={config['results_dir']}", *extra]
    start = time.time()
    with open(workdir / "console.log", "w") as console, open(samples, "w") as out:
        run = subprocess.Popen(command, cwd=REPO, stdout=console, stderr=subprocess.STDOUT)
        while True:
            finished = run.poll() is not None
            try:
                p = progress(config, calibration=calibration)
                eta, how = p.eta_s(cores=cores, threads=int(config["train"]["threads"]))
                jobs = p.jobs["state"]
                sample = {"t": time.time() - start, "share": p.work_done / max(p.work_total, 1e-12), "eta_s": eta,
                          "how": how, "finished": int((~jobs.isin(["pending", "started", "not run"])).sum()),
                          "jobs": int((jobs != "not run").sum()), "not_run": int((jobs == "not run").sum())}
            except Exception as exc:  # noqa: BLE001 - before the first card, say, the sample records why
                sample = {"t": time.time() - start, "error": f"{type(exc).__name__}: {exc}"}
            out.write(json.dumps(sample) + "\n")
            out.flush()
            if finished:
                break
            time.sleep(interval)
    summaries = list((Path(config["results_dir"]) / "train").rglob("split*.json"))
    end = {"t_end_training": max(s.stat().st_mtime for s in summaries) - start if summaries else None,
           "t_end_run": time.time() - start, "returncode": run.returncode, "command": command}
    with open(samples, "a") as out:
        out.write(json.dumps(end) + "\n")
    return samples


def analyse(samples_path: Path) -> int:
    rows = [json.loads(line) for line in samples_path.read_text().splitlines() if line.strip()]
    end = next(r for r in rows if "t_end_run" in r)
    samples = [r for r in rows if "share" in r]
    t_end = end["t_end_training"]
    print(f"run: exit {end['returncode']}, {end['t_end_run']:.0f} s in all, training ended at {t_end:.0f} s; "
          f"{len(samples)} status samples")
    if samples:
        last = samples[-1]
        print(f"jobs: {last['finished']} of {last['jobs']} finished at the last sample, {last['not_run']} not run")
    later = [s for s in samples if s["share"] >= 0.25 and s["t"] < t_end and s["eta_s"]]
    if not later:
        print("no sample with a quarter of the training work done before the training ended")
        return 1
    ratios = []
    for i, s in enumerate(later):
        actual = t_end - s["t"]
        ratios.append(s["eta_s"] / actual)
        if i == 0 or i == len(later) - 1 or i % 5 == 0:
            print(f"  t={s['t']:5.0f} s  done {s['share']:4.0%}  ETA {s['eta_s']:6.0f} s  actual {actual:6.0f} s  "
                  f"ETA/actual {ratios[-1]:.2f}  ({s['how']})")
    first = ratios[0]
    worst = max(ratios, key=lambda r: max(r, 1 / r))
    ok = all(1 / TARGET <= r <= TARGET for r in ratios)
    print(f"first sample with >= 25% done: ETA/actual {first:.2f}; worst from then on {worst:.2f} "
          f"({len(ratios)} samples); target within {TARGET}x: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="where the run's data, results and samples go")
    parser.add_argument("--configfile", nargs="+", default=["config/quick.yaml"])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--interval", type=float, default=20.0, help="seconds between status samples")
    parser.add_argument("--analyse", type=Path, help="a recorded status_samples.jsonl: only its figures")
    parser.add_argument("extra", nargs="*", help="more snakemake arguments (after --)")
    args = parser.parse_args()
    if args.analyse:
        return analyse(args.analyse)
    if not args.workdir:
        parser.error("--workdir or --analyse is needed")
    os.environ.setdefault("PYTHONPATH", str(REPO / "src"))
    return analyse(record(args.workdir, args.configfile, args.cores, args.interval, args.extra))


if __name__ == "__main__":
    raise SystemExit(main())
