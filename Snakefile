# snnbench: the benchmarks of Self-Normalizing Neural Networks (Klambauer et al. 2017),
# from the raw downloads to the published tables. See README.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/stats.smk"


rule all:
    default_target: True
    input:
        get_final_output(),


# The start of a run says its size and projected time (snnbench plan; the calibration is cached).
onstart:
    from snnbench.pipeline.plan import plan_text

    try:
        print("\n".join(plan_text(config, build=False)[0]))  # no user code in Snakemake's process
    except Exception as exc:  # the plan informs; it never stops a run
        print(f"snnbench plan unavailable: {type(exc).__name__}: {exc}")


# The end of a run (onsuccess, and onerror after a failed job) says how much of the training is
# done, names what failed or was unavailable, with the reason, and where to look; a dataset whose
# data failed (a checksum, a malformed file) makes the exit code non-zero. `snnbench status`
# prints the same at any time (a rerun with "Nothing to be done" runs no hook).
onsuccess:
    from snnbench.pipeline.report import run_summary

    print_status_line()
    _lines, _data_failed = run_summary(
        get_prepared_cards(), [f"{RESULTS}/{b}/failures.csv" for b in BENCHMARKS], f"{RESULTS}/REPORT.md"
    )
    print("\n".join(_lines))
    if _data_failed:
        sys.exit(1)


# The hint names this run's own config files, in its order, and its --config values.
onerror:
    from snnbench.pipeline.report import run_summary

    print_status_line()
    print(
        "\n".join(
            run_summary(
                get_prepared_cards(),
                [f"{RESULTS}/{b}/failures.csv" for b in BENCHMARKS],
                f"{RESULTS}/REPORT.md",
            )[0]
        )
    )
    print(f"the state at any time: {get_status_command()}; the same snakemake command again resumes the run")
