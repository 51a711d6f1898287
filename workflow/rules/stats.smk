# Aggregate the training summaries, compute the statistics, write the paper's tables and figures
# (UCI: 1, A11-A13; Tox21: 2; HTRU2: 3), check the statistics on the paper's own numbers, and
# write the report.


rule aggregate:
    input:
        get_benchmark_summaries,
    output:
        scores=report(f"{RESULTS}/{{benchmark}}/scores.csv", category="Scores", caption="../report/scores.rst"),
        failures=f"{RESULTS}/{{benchmark}}/failures.csv",
    log:
        f"{LOGS}/aggregate/{{benchmark}}.log",
    conda:
        ENV
    params:
        train_dir=lambda w, input: str(Path(input[0]).parents[3]),  # results/train/<benchmark>/<dataset>/<method>/...
        jobs=get_aggregate_jobs,
    shell:
        "python -m snnbench aggregate --benchmark {wildcards.benchmark} --out {output.scores}"
        " --failures {output.failures} --train-dir {params.train_dir} --jobs {params.jobs:q} > {log} 2>&1"


rule stats:
    input:
        scores=f"{RESULTS}/{{benchmark}}/scores.csv",
    output:
        stats=report(f"{RESULTS}/{{benchmark}}/stats.csv", category="Test statistics", caption="../report/stats.rst"),
    log:
        f"{LOGS}/stats/{{benchmark}}.log",
    wildcard_constraints:
        benchmark="|".join(BENCHMARKS_WITH_STATISTICS),  # Table 2 (Tox21) has no test statistics
    conda:
        ENV
    params:
        stats=get_stats_settings(),
    shell:
        "python -m snnbench stats --benchmark {wildcards.benchmark} --scores {input.scores} --out {output.stats}"
        " --stats {params.stats:q} > {log} 2>&1"


# A benchmark's tables (its spec's `tables`: UCI 1, A11-A13 and the comparison with the published
# methods; Tox21 2; HTRU2 3), formatted from its statistics, each as .csv, .md and .tex beside
# captions.json (the caption of every table, written last), with its figures.
rule tables:
    input:
        unpack(get_tables_inputs),
    output:
        captions=report(f"{RESULTS}/{{benchmark}}/captions.json", category="Tables", caption="../report/tables.rst"),
        figures=report(
            directory(f"{RESULTS}/{{benchmark}}/figures"),
            patterns=["{name}.png"],
            category="Figures",
            caption="../report/figures.rst",
        ),
    log:
        f"{LOGS}/tables/{{benchmark}}.log",
    conda:
        ENV
    params:
        out_dir=lambda w, output: str(Path(output.captions).parent),
        settings=lambda w: get_train_settings(w.benchmark),
        statistics=get_statistics_option,
        options=lambda w: get_table_options(w.benchmark),
    shell:
        "python -m snnbench tables --benchmark {wildcards.benchmark} --scores {input.scores}"
        " --data-summary {input.data_summary} {params.statistics} --options {params.options:q}"
        " --out-dir {params.out_dir} --settings {params.settings:q} > {log} 2>&1"


rule paper_check:
    output:
        table1=report(f"{RESULTS}/paper_check/table1.csv", category="Paper check", caption="../report/paper_check.rst"),
        tableA12=f"{RESULTS}/paper_check/tableA12.csv",
        tableA13=f"{RESULTS}/paper_check/tableA13.csv",
    log:
        f"{LOGS}/paper_check.log",
    conda:
        ENV
    params:
        out_dir=lambda w, output: str(Path(output.table1).parent),
        stats=get_stats_settings(),
    shell:
        "python -m snnbench paper-check --out-dir {params.out_dir} --stats {params.stats:q} > {log} 2>&1"


# How robust the UCI conclusion is, on the paper's own numbers (paper_check) and on ours (uci):
# corrections for multiple comparisons, Friedman / Nemenyi, the Bayesian signed-rank test,
# bootstrap over datasets, the conventions the paper leaves open, granularity (docs/protocol.md S9).
rule robustness:
    input:
        unpack(get_robustness_inputs),
    output:
        md=report(f"{RESULTS}/{{source}}/robustness.md", category="Robustness", caption="../report/robustness.rst"),
        csv=f"{RESULTS}/{{source}}/robustness.csv",
        per_dataset=f"{RESULTS}/{{source}}/robustness_per_dataset.csv",
        figures=report(
            directory(f"{RESULTS}/{{source}}/robustness_figures"),
            patterns=["{name}.png"],
            category="Robustness",
            caption="../report/robustness.rst",
        ),
    log:
        f"{LOGS}/robustness/{{source}}.log",
    wildcard_constraints:
        source="paper_check|uci",
    conda:
        ENV
    params:
        out_dir=lambda w, output: str(Path(output.md).parent),
        scores=get_robustness_scores_option,
        stats=get_stats_settings(),
        settings=get_robustness_settings(),
    shell:
        "python -m snnbench robustness {params.scores} --out-dir {params.out_dir} --stats {params.stats:q}"
        " --robustness-settings {params.settings:q} > {log} 2>&1"


# REPORT.md and report.html, the front page that `snakemake --report` opens on (workflow.rst).
rule write_report:
    input:
        get_report_inputs,
    output:
        markdown=f"{RESULTS}/REPORT.md",
        html=report(f"{RESULTS}/report.html", category="Overview", caption="../report/overview.rst"),
    log:
        f"{LOGS}/report.log",
    conda:
        ENV
    params:
        results_dir=lambda w, output: str(Path(output.markdown).parent),
    shell:
        "python -m snnbench report --results-dir {params.results_dir} --out {output.markdown} --html {output.html}"
        " > {log} 2>&1"
