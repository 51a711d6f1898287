# Download (local rules: they need the network or the mirror), verify, prepare, summarise.
# Each rule runs one `snnbench data` verb (python -m snnbench: see common.smk).


wildcard_constraints:
    source="|".join(sorted({s for b in BENCHMARK_SOURCES.values() for s in b})),
    dataset="|".join(d for b in benchmark_registry.BENCHMARKS for d in benchmark_registry.get(b).dataset_names()),
    benchmark="|".join(benchmark_registry.BENCHMARKS),
    method="|".join(method_registry.names()),
    split=r"\d+",


rule download_source:
    input:
        get_mirror_copies,
    output:
        f"{RAW}/{{source}}/_verified.json",
    log:
        f"{LOGS}/download/{{source}}.log",
    localrule: True
    conda:
        ENV
    params:
        raw_dir=lambda w, output: raw_dir_of(output[0]),
        mirror=get_mirror_option(),
        options=get_download_options(),
    shell:
        "python -m snnbench data download {wildcards.source} --raw-dir {params.raw_dir}"
        " {params.mirror} {params.options} > {log} 2>&1"


# One preparation rule per benchmark, prepare_<benchmark>, made from its registered spec: a job
# per dataset, the benchmark's options from its config section (`snnbench data prepare
# --options`), threads and memory as the spec says (Tox21's rdkit featurisation: tox21.jobs).
for _spec in map(benchmark_registry.get, benchmark_registry.BENCHMARKS):

    rule:
        name:
            f"prepare_{_spec.name}"
        input:
            get_verified(_spec.name),
        output:
            f"{PREPARED}/{_spec.name}/{{dataset}}.json",
        log:
            f"{LOGS}/prepare/{_spec.name}/{{dataset}}.log",
        conda:
            ENV
        threads: _spec.prepare_options(config).get("n_jobs", 1)
        resources:
            mem_mb=_spec.prepare_mem_mb,
        params:
            benchmark=_spec.name,
            raw_dir=lambda w, input: raw_dir_of(input[0]),
            prepared_dir=lambda w, output: prepared_dir_of(output[0]),
            options=get_prepare_options(_spec.name),
        shell:
            "python -m snnbench data prepare {params.benchmark} --dataset {wildcards.dataset} --raw-dir {params.raw_dir}"
            " --prepared-dir {params.prepared_dir} --options {params.options:q} --threads {threads} --keep-going"
            " > {log} 2>&1"


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
    params:
        prepared_dir=lambda w, input: prepared_dir_of(input[0]),
        datasets=json.dumps({b: compact_datasets(b) for b in BENCHMARKS}, separators=(",", ":")),
        split_columns=get_trained_splits(),
    shell:
        "python -m snnbench data summary --prepared-dir {params.prepared_dir} --datasets {params.datasets:q}"
        " --split-columns {params.split_columns:q} --out {output}"
        " > {log} 2>&1"
