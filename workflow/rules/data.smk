# Download (local rules: they need the network or the mirror), verify, prepare, summarise.
# Each rule runs one `snnbench data` verb (python -m snnbench: see common.smk).


wildcard_constraints:
    source="|".join(sorted({s for b in BENCHMARK_SOURCES.values() for s in b})),
    dataset="|".join([*dataset_names(), "tox21", "htru2"]),
    benchmark="uci|tox21|htru2",
    method="|".join(method_registry.names()),
    split=r"\d+",


rule download_source:
    output:
        f"{RAW}/{{source}}/_verified.json",
    log:
        f"{LOGS}/download/{{source}}.log",
    params:
        raw_dir=lambda w, output: raw_dir_of(output[0]),
        mirror=get_mirror_option(),
        options=get_download_options(),
    localrule: True
    retries: 2
    conda:
        ENV
    shell:
        "python -m snnbench data download {wildcards.source} --raw-dir {params.raw_dir}"
        " {params.mirror} {params.options} > {log} 2>&1"


rule prepare_uci:
    input:
        get_verified("uci"),
    output:
        f"{PREPARED}/uci/{{dataset}}.json",
    log:
        f"{LOGS}/prepare/uci/{{dataset}}.log",
    params:
        raw_dir=lambda w, input: raw_dir_of(input[0]),
        prepared_dir=lambda w, output: prepared_dir_of(output[0]),
    conda:
        ENV
    shell:
        "python -m snnbench data prepare uci --dataset {wildcards.dataset} --raw-dir {params.raw_dir}"
        " --prepared-dir {params.prepared_dir} --keep-going > {log} 2>&1"


rule prepare_tox21:
    input:
        get_verified("tox21"),
    output:
        f"{PREPARED}/tox21/tox21.json",
    log:
        f"{LOGS}/prepare/tox21.log",
    params:
        raw_dir=lambda w, input: raw_dir_of(input[0]),
        prepared_dir=lambda w, output: prepared_dir_of(output[0]),
        features=config["tox21"]["features"],
        min_frequency=config["tox21"]["sparse_min_frequency"],
        radius=config["tox21"]["ecfp_radius"],
    threads: config["tox21"]["jobs"]
    resources:
        mem_mb=8000,
    conda:
        ENV
    shell:
        "python -m snnbench data prepare tox21 --raw-dir {params.raw_dir} --prepared-dir {params.prepared_dir}"
        " --keep-going --features {params.features} --sparse-min-frequency {params.min_frequency}"
        " --ecfp-radius {params.radius} --jobs {threads} > {log} 2>&1"


rule prepare_htru2:
    input:
        get_verified("htru2"),
    output:
        f"{PREPARED}/htru2/htru2.json",
    log:
        f"{LOGS}/prepare/htru2.log",
    params:
        raw_dir=lambda w, input: raw_dir_of(input[0]),
        prepared_dir=lambda w, output: prepared_dir_of(output[0]),
        n_folds=config["htru2"]["n_folds"],
        seed=config["htru2"]["fold_seed"],
    conda:
        ENV
    shell:
        "python -m snnbench data prepare htru2 --raw-dir {params.raw_dir} --prepared-dir {params.prepared_dir}"
        " --keep-going --n-folds {params.n_folds} --seed {params.seed} > {log} 2>&1"


rule data_summary:
    input:
        get_prepared_cards(),
    output:
        report(
            f"{RESULTS}/data/summary.csv",
            category="Data",
            caption="../report/data_summary.rst",
        ),
    log:
        f"{LOGS}/data_summary.log",
    localrule: True
    conda:
        ENV
    shell:
        "python -m snnbench data summary {input} --out {output} > {log} 2>&1"
