# Aggregate the training summaries, compute the statistics, write the paper's tables and figures
# (UCI: 1, A11-A13; Tox21: 2; HTRU2: 3), check the statistics on the paper's own numbers, and
# write the report.


rule aggregate_uci:
    input:
        get_uci_summaries,
    output:
        scores=report(f"{RESULTS}/uci/scores.csv", category="UCI", caption="../report/scores.rst"),
        failures=f"{RESULTS}/uci/failures.csv",
    log:
        f"{LOGS}/aggregate/uci.log",
    conda:
        ENV
    shell:
        "python -m snnbench aggregate --benchmark uci --out {output.scores} --failures {output.failures} {input}"
        " > {log} 2>&1"


rule stats:
    input:
        scores=f"{RESULTS}/{{benchmark}}/scores.csv",
    output:
        stats=report(f"{RESULTS}/{{benchmark}}/stats.csv", category="Statistics", caption="../report/stats.rst"),
    log:
        f"{LOGS}/stats/{{benchmark}}.log",
    wildcard_constraints:
        benchmark="uci|htru2",  # Table 2 (Tox21) has no test statistics
    params:
        stats=get_stats_settings(),
    conda:
        ENV
    shell:
        "python -m snnbench stats --benchmark {wildcards.benchmark} --scores {input.scores} --out {output.stats}"
        " --stats {params.stats:q} > {log} 2>&1"


rule tables_uci:
    input:
        scores=f"{RESULTS}/uci/scores.csv",
        stats=f"{RESULTS}/uci/stats.csv",
        data_summary=f"{RESULTS}/data/summary.csv",
    output:
        table1=report(f"{RESULTS}/uci/table1.csv", category="UCI", caption="../report/table1.rst"),
        tableA11=report(f"{RESULTS}/uci/tableA11.csv", category="UCI", caption="../report/tableA11.rst"),
        tableA12=report(f"{RESULTS}/uci/tableA12.csv", category="UCI", caption="../report/tableA12.rst"),
        tableA13=report(f"{RESULTS}/uci/tableA13.csv", category="UCI", caption="../report/tableA13.rst"),
        figures=report(directory(f"{RESULTS}/uci/figures"), patterns=["{name}.png"], category="UCI",
                       caption="../report/figures.rst"),
    log:
        f"{LOGS}/tables/uci.log",
    params:
        out_dir=lambda w, output: str(Path(output.table1).parent),
        settings=get_train_settings("uci"),
    conda:
        ENV
    shell:
        "python -m snnbench tables --scores {input.scores} --data-summary {input.data_summary}"
        " --statistics {input.stats} --out-dir {params.out_dir} --settings {params.settings:q} > {log} 2>&1"


rule aggregate_htru2:
    input:
        get_htru2_summaries,
    output:
        scores=report(f"{RESULTS}/htru2/scores.csv", category="HTRU2", caption="../report/htru2_scores.rst"),
        failures=f"{RESULTS}/htru2/failures.csv",
    log:
        f"{LOGS}/aggregate/htru2.log",
    conda:
        ENV
    shell:
        "python -m snnbench aggregate --benchmark htru2 --out {output.scores} --failures {output.failures} {input}"
        " > {log} 2>&1"


rule tables_htru2:
    input:
        scores=f"{RESULTS}/htru2/scores.csv",
        stats=f"{RESULTS}/htru2/stats.csv",
    output:
        table3=report(f"{RESULTS}/htru2/table3.csv", category="HTRU2", caption="../report/table3.rst"),
        figure=report(f"{RESULTS}/htru2/figures/auc_per_fold.png", category="HTRU2", caption="../report/table3.rst"),
    log:
        f"{LOGS}/tables/htru2.log",
    params:
        out_dir=lambda w, output: str(Path(output.table3).parent),
        settings=get_train_settings("htru2"),
        n_folds=config["htru2"]["n_folds"],
    conda:
        ENV
    shell:
        "python -m snnbench tables --benchmark htru2 --scores {input.scores} --statistics {input.stats}"
        " --out-dir {params.out_dir} --n-folds {params.n_folds} --settings {params.settings:q} > {log} 2>&1"


rule aggregate_tox21:
    input:
        get_tox21_summaries,
    output:
        scores=report(f"{RESULTS}/tox21/scores.csv", category="Tox21", caption="../report/tox21_scores.rst"),
        failures=f"{RESULTS}/tox21/failures.csv",
    log:
        f"{LOGS}/aggregate/tox21.log",
    conda:
        ENV
    shell:
        "python -m snnbench aggregate --benchmark tox21 --out {output.scores} --failures {output.failures} {input}"
        " > {log} 2>&1"


rule tables_tox21:
    input:
        scores=f"{RESULTS}/tox21/scores.csv",
    output:
        table2=report(f"{RESULTS}/tox21/table2.csv", category="Tox21", caption="../report/table2.rst"),
        tasks=report(f"{RESULTS}/tox21/table2_tasks.csv", category="Tox21", caption="../report/table2_tasks.rst"),
        figure=report(f"{RESULTS}/tox21/figures/auc_vs_depth.png", category="Tox21", caption="../report/table2.rst"),
    log:
        f"{LOGS}/tables/tox21.log",
    params:
        out_dir=lambda w, output: str(Path(output.table2).parent),
        settings=get_train_settings("tox21"),
    conda:
        ENV
    shell:
        "python -m snnbench tables --benchmark tox21 --scores {input.scores} --out-dir {params.out_dir}"
        " --settings {params.settings:q} > {log} 2>&1"


rule paper_check:
    output:
        table1=report(f"{RESULTS}/paper_check/table1.csv", category="Paper check", caption="../report/paper_check.rst"),
        tableA12=f"{RESULTS}/paper_check/tableA12.csv",
        tableA13=f"{RESULTS}/paper_check/tableA13.csv",
    log:
        f"{LOGS}/paper_check.log",
    params:
        out_dir=lambda w, output: str(Path(output.table1).parent),
        stats=get_stats_settings(),
    conda:
        ENV
    shell:
        "python -m snnbench stats --published --out-dir {params.out_dir} --stats {params.stats:q} > {log} 2>&1"


rule write_report:
    input:
        get_report_inputs,
    output:
        f"{RESULTS}/REPORT.md",
    log:
        f"{LOGS}/report.log",
    params:
        results_dir=lambda w, output: str(Path(output[0]).parent),
    conda:
        ENV
    shell:
        "python -m snnbench report --results-dir {params.results_dir} --out {output} > {log} 2>&1"
