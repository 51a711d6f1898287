# Training: one job per benchmark, dataset, method and split (UCI split column, HTRU2 outer fold,
# Tox21 repeat); the whole grid runs inside (`snnbench train`), selection on validation included.
# FNNs may use a GPU (`gpu` resource, train.gpus, auto: where GPUs are visible; one GPU job slot
# each; each job claims a free slot, train.jobs_per_gpu per GPU, snnbench.training.devices; a GPU job runs
# at one thread); RF and SVM run on CPU. Memory per benchmark: train.mem_mb, times the attempt.
# A job that fails deterministically (an exception: exit 1) is recorded as failed by
# `snnbench record-failure`, so the run goes on and the tables name it. A job killed by a signal
# (exit > 128: the kernel's out-of-memory killer, a preempted node) fails instead, and Snakemake
# retries it (TRAIN_RETRIES times) with more memory; the last attempt is recorded as failed.
# Snakemake deletes a job's log before each attempt: a killed attempt's log is kept beside it
# (split<k>.attempt<n>.log, named in its last line and in the next attempt's first line).
# Both rules run the one command TRAIN_SHELL; params.gpus holds a GPU job's options.
TRAIN_SHELL = (
    "kept={log}; kept=${{kept%.log}}.attempt; if [ {resources.attempt} -gt 1 ]; then"
    ' echo "attempt {resources.attempt}; the log of the attempt before: $kept$(({resources.attempt} - 1)).log" > {log};'
    ' else rm -f "$kept"*.log; fi;'
    " python -m snnbench train --benchmark {wildcards.benchmark} --dataset {wildcards.dataset}"
    " --method {wildcards.method} --split {wildcards.split} --prepared-dir {params.prepared_dir}"
    " --out {output.table} --grid {params.grid:q} --settings {params.settings:q}"
    " --threads {threads} {params.custom} {params.gpus} --keep-going >> {log} 2>&1"
    " || {{ rc=$?; if [ $rc -gt 128 ] && [ {resources.attempt} -le {params.retries} ]; then"
    ' echo "killed by signal $((rc - 128)): failing the job so that Snakemake retries it; this log is kept as'
    ' ${{kept}}{resources.attempt}.log" >> {log}; cp {log} "${{kept}}{resources.attempt}.log"; exit $rc; fi;'
    " python -m snnbench record-failure --benchmark {wildcards.benchmark} --dataset {wildcards.dataset}"
    ' --method {wildcards.method} --split {wildcards.split} --out {output.table} --log {log} --reason "exit $rc"'
    " >> {log} 2>&1; }}"
)


rule train_fnn:
    input:
        card=f"{PREPARED}/{{benchmark}}/{{dataset}}.json",
    output:
        table=f"{RESULTS}/train/{{benchmark}}/{{dataset}}/{{method}}/split{{split}}.csv",
        curves=f"{RESULTS}/train/{{benchmark}}/{{dataset}}/{{method}}/split{{split}}.curves.csv.gz",
        summary=f"{RESULTS}/train/{{benchmark}}/{{dataset}}/{{method}}/split{{split}}.json",
    log:
        f"{LOGS}/train/{{benchmark}}/{{dataset}}/{{method}}/split{{split}}.log",
    wildcard_constraints:
        method="|".join(TORCH_METHOD_NAMES),
    retries: TRAIN_RETRIES
    conda:
        ENV
    threads: get_train_fnn_threads
    resources:
        gpu=lambda w: get_train_fnn_gpu(),
        mem_mb=get_train_mem_mb,
        attempt=lambda w, attempt: attempt,
    params:
        prepared_dir=lambda w, input: prepared_dir_of(input.card),
        grid=lambda w: get_method_grid(w.benchmark, w.method),
        settings=lambda w: get_train_settings(w.benchmark),
        custom=lambda w: get_custom_method_option(w.method),
        gpus=lambda w, resources: f"--gpus {get_train_fnn_gpus_option(w, resources)} --jobs-per-gpu {TRAIN['jobs_per_gpu']}",
        retries=TRAIN_RETRIES,
    shell:
        TRAIN_SHELL


rule train_baseline:
    input:
        card=f"{PREPARED}/{{benchmark}}/{{dataset}}.json",
    output:
        table=f"{RESULTS}/train/{{benchmark}}/{{dataset}}/{{method}}/split{{split}}.csv",
        curves=f"{RESULTS}/train/{{benchmark}}/{{dataset}}/{{method}}/split{{split}}.curves.csv.gz",
        summary=f"{RESULTS}/train/{{benchmark}}/{{dataset}}/{{method}}/split{{split}}.json",
    log:
        f"{LOGS}/train/{{benchmark}}/{{dataset}}/{{method}}/split{{split}}.log",
    wildcard_constraints:
        method="|".join(SKLEARN_METHOD_NAMES),
    retries: TRAIN_RETRIES
    conda:
        ENV
    threads: TRAIN["threads"]
    resources:
        mem_mb=get_train_mem_mb,
        attempt=lambda w, attempt: attempt,
    params:
        prepared_dir=lambda w, input: prepared_dir_of(input.card),
        grid=lambda w: get_method_grid(w.benchmark, w.method),
        settings=lambda w: get_train_settings(w.benchmark),
        custom=lambda w: get_custom_method_option(w.method),
        gpus="",
        retries=TRAIN_RETRIES,
    shell:
        TRAIN_SHELL
