# snnbench: the benchmarks of Self-Normalizing Neural Networks (Klambauer et al. 2017),
# from the raw downloads to the published tables. See README.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/stats.smk"


rule all:
    input:
        get_final_output(),
    default_target: True
