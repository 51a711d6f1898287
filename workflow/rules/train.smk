# FNN training: one job per benchmark, dataset, method and split; the whole grid runs inside
# (`snnbench train`), selection on validation included.


rule train_fnn:
    input:
        card=f"{PREPARED}/{{benchmark}}/{{dataset}}.json",
    output:
        table=f"{RESULTS}/train/{{benchmark}}/{{dataset}}/{{method}}/split{{split}}.csv",
        curves=f"{RESULTS}/train/{{benchmark}}/{{dataset}}/{{method}}/split{{split}}.curves.csv.gz",
        summary=f"{RESULTS}/train/{{benchmark}}/{{dataset}}/{{method}}/split{{split}}.json",
    log:
        f"{LOGS}/train/{{benchmark}}/{{dataset}}/{{method}}/split{{split}}.log",
    params:
        prepared_dir=lambda w, input: prepared_dir_of(input.card),
        grid=lambda w: get_fnn_grid(w.benchmark, w.method),
        settings=get_train_settings(),
    threads: TRAIN["threads"]
    resources:
        gpu=TRAIN["gpus"],
        mem_mb=8000,
    conda:
        ENV
    shell:
        "python -m snnbench train --benchmark {wildcards.benchmark} --dataset {wildcards.dataset}"
        " --method {wildcards.method} --split {wildcards.split} --prepared-dir {params.prepared_dir}"
        " --out {output.table} --grid {params.grid:q} --settings {params.settings:q}"
        " --threads {threads} --quiet --keep-going > {log} 2>&1"
