"""The GPU cost model (snnbench.training.costmodel): occupancy per product shape, overlap of streams and
jobs, set-up, job start, low against high."""

from dataclasses import replace

import pytest

from snnbench.training import costmodel as cm
from snnbench.training.grids import expand

SNN_GRID = {"n_hidden": [1024, 256], "n_layers": [2, 8], "lr": [0.01, 0.1, 1], "dropout": [0.05, 0],
            "layer_form": ["rectangular"]}


def job(n_train=2000, epochs=10, grid=SNN_GRID, **kw):
    return cm.Job("SNN", tuple(expand(grid)), 20, 2, n_train, n_train // 4, n_train // 4, epochs=epochs, **kw)


def test_tiles_of_a_known_shape():
    only_128 = replace(cm.HIGH, name="only 128x128", fp32_tilings=(cm.Tiling(128, 128, 0.7),))
    o = cm.occupancy(3, 128, 1024, 1024, a=only_128)
    assert (o["tile"], o["split_k"], o["tiles"], o["waves"]) == ("128x128", 1, 24, 1)
    assert o["fill"] == pytest.approx(24 / 132) and o["bound"] == "compute"
    overhead = 1024 / (1024 + only_128.k_overhead)  # a tile's fixed cost over the reduction
    assert o["fraction_of_peak"] == pytest.approx(0.7 * 24 / 132 * overhead)
    # the weight gradient: many tiles, but a short reduction over 128 rows
    w = cm.occupancy(3, 1024, 1024, 128, a=only_128)
    assert w["tiles"] == 192 and w["waves"] == 2 and w["fill"] == pytest.approx(192 / 264)
    assert w["fraction_of_peak"] == pytest.approx(0.7 * 192 / 264 * 128 / (128 + only_128.k_overhead))
    # the heuristic takes smaller tiles (or split K) where 128x128 leaves most SMs idle
    for a in cm.BOTH:
        best = cm.occupancy(3, 128, 1024, 1024, a=a)
        assert best["tiles"] > 24 and best["fraction_of_peak"] > o["fraction_of_peak"]
        assert 0.2 <= best["fraction_of_peak"] <= 0.5  # the review's 20-45 % for this shape, FP32


def test_fill_rises_with_members_and_streams_until_the_sms_are_full():
    only_128 = replace(cm.HIGH, name="only 128x128", fp32_tilings=(cm.Tiling(128, 128, 0.7),))
    fills = [cm.occupancy(k, 128, 1024, 1024, a=only_128)["fill"] for k in (1, 3, 6, 16, 33)]
    assert fills == pytest.approx([8 / 132, 24 / 132, 48 / 132, 128 / 132, 264 / 264])
    for a in cm.BOTH:  # with the tiling chosen (smaller tiles, split K): the share of the peak rises with members
        peak = [cm.occupancy(k, 128, 1024, 1024, a=a)["fraction_of_peak"] for k in (1, 3, 6)]
        assert peak[0] < peak[1] < peak[2] < 0.75
        assert cm.occupancy(64, 128, 1024, 1024, a=a)["fill"] > 0.9
        by_streams = [cm.occupancy(3, 128, 1024, 1024, concurrent=c, a=a)["fill"] for c in (1, 2, 4, 8, 16, 32, 64)]
        assert all(x <= y for x, y in zip(by_streams, by_streams[1:])) and by_streams[-1] <= 1
        assert by_streams[2] > by_streams[0]
        assert by_streams[-2] == by_streams[-1]  # full: more streams add nothing
        peak = [cm.occupancy(3, 128, 1024, 1024, concurrent=c, a=a)["fraction_of_peak"] for c in (1, 4)]
        assert peak[1] > peak[0]


def test_a_tiny_product_costs_the_kernel_floor_shared_by_concurrent_streams():
    a = cm.LOW
    alone = cm.occupancy(1, 16, 2, 16, a=a)
    assert alone["bound"] == "floor" and alone["seconds"] == a.kernel_floor_s
    assert cm.occupancy(1, 16, 2, 16, concurrent=4, a=a)["seconds"] < a.kernel_floor_s


def test_mps_overlaps_device_work_time_slicing_does_not():
    j = job(n_train=20000, epochs=2)
    alone = cm.job_seconds(j, cm.GpuRun(streams=1, jobs_per_gpu=1), cm.HIGH)
    sliced = cm.job_seconds(j, cm.GpuRun(streams=1, jobs_per_gpu=4), cm.HIGH)
    mps = cm.job_seconds(j, cm.GpuRun(streams=1, jobs_per_gpu=4, mps=True), cm.HIGH)
    assert sliced["device"] == alone["device"]  # time-sliced: the jobs' device work adds up
    assert sum(mps["device"].values()) < sum(sliced["device"].values())
    assert mps["total"] < sliced["total"] <= alone["total"]
    assert sliced["total"] >= sum(sliced["device"].values())  # a job's share is never below its device time
    # streams within one job overlap like MPS jobs
    assert cm.job_seconds(j, cm.GpuRun(streams=4), cm.HIGH)["total"] < alone["total"]


def test_host_bound_jobs_gain_from_sharing_a_gpu_even_time_sliced():
    j = job(n_train=200, epochs=5, grid={**SNN_GRID, "n_hidden": [16]})  # tiny: host time dominates
    one = cm.job_seconds(j, cm.GpuRun(streams=1, jobs_per_gpu=1), cm.HIGH)
    assert sum(one["host"].values()) > sum(one["device"].values())
    four = cm.job_seconds(j, cm.GpuRun(streams=1, jobs_per_gpu=4), cm.HIGH)
    assert four["total"] < one["total"] / 2


def test_low_is_at_most_high_everywhere():
    for n_train, epochs in ((100, 3), (3000, 5), (30000, 1)):
        for run in (cm.GpuRun(streams=1), cm.GpuRun(streams=8), cm.GpuRun(jobs_per_gpu=8),
                    cm.GpuRun(jobs_per_gpu=8, mps=True), cm.GpuRun(tf32=True)):
            j = job(n_train=n_train, epochs=epochs)
            assert cm.job_seconds(j, run, cm.LOW)["total"] <= cm.job_seconds(j, run, cm.HIGH)["total"]
    for shape in ((3, 128, 1024, 1024), (6, 128, 256, 256), (3, 1024, 1024, 128), (6, 8192, 2, 512)):
        for tf32 in (False, True):
            assert (cm.occupancy(*shape, tf32=tf32, a=cm.LOW)["seconds"]
                    <= cm.occupancy(*shape, tf32=tf32, a=cm.HIGH)["seconds"])


def test_tf32_changes_only_the_products():
    j = job(n_train=5000, epochs=2)
    for a in cm.BOTH:
        fp32 = cm.job_seconds(j, cm.GpuRun(), a)
        tf32 = cm.job_seconds(j, cm.GpuRun(tf32=True), a)
        assert tf32["device"]["products"] < fp32["device"]["products"]
        assert tf32["device"]["evaluation"] < fp32["device"]["evaluation"]  # its forward products
        for key in ("other", "update", "sync"):
            assert tf32["device"][key] == fp32["device"][key]
        assert tf32["host"] == fp32["host"] and tf32["total"] < fp32["total"]


def test_a_draw_overlapped_by_the_previous_groups_training_costs_nothing():
    a = replace(cm.HIGH, name="slow draw", draw_rate=1e8)
    long = cm.job_seconds(job(n_train=20000, epochs=40), cm.GpuRun(streams=1), a)
    first_draw = 6 * (20 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 2 + 2) / a.draw_rate  # group 1: 1024 x 2 layers
    assert long["host"]["draw_wait"] == pytest.approx(first_draw)  # only the first group waits for its weights
    short = cm.job_seconds(job(n_train=50, epochs=1), cm.GpuRun(streams=1), a)
    assert short["host"]["draw_wait"] > 2 * first_draw  # the groups train faster than the next is drawn


def test_the_job_start_is_counted_once_per_job():
    j = job(n_train=500, epochs=2)
    slow = replace(cm.LOW, name="slow start", job_start_s=cm.LOW.job_start_s + 10)
    for J in (1, 4):
        run = cm.GpuRun(jobs_per_gpu=J)
        one = cm.job_seconds(j, run, cm.LOW)["total"]
        assert cm.job_seconds(j, run, slow)["total"] - one == pytest.approx(10 / J)
        assert cm.grid_seconds([j, j], run, slow) - cm.grid_seconds([j, j], run, cm.LOW) == pytest.approx(20 / J)


def test_monotonic_in_epochs_and_rows():
    for a in cm.BOTH:
        by_epochs = [cm.job_seconds(job(n_train=1000, epochs=e), cm.GpuRun(), a)["total"] for e in (1, 2, 10, 100)]
        by_rows = [cm.job_seconds(job(n_train=n, epochs=3), cm.GpuRun(), a)["total"] for n in (64, 128, 1000, 10000)]
        assert by_epochs == sorted(by_epochs) and len(set(by_epochs)) == 4
        assert by_rows == sorted(by_rows) and by_rows[-1] > by_rows[-2] > by_rows[0]  # 64 and 128 rows: one step


def test_kernels_per_group_step_from_the_measured_figures():
    snn = cm.default_kernels("SNN")  # 15.3 per configuration-step x 6 members at depth 8 (9 linear layers)
    assert snn.at(9) == pytest.approx(15.3 * 6) and snn.fixed == cm.FIXED_KERNELS
    resnet = cm.default_kernels("ResNet")  # 46.7 x 3 at 8 blocks (18 linear layers)
    assert resnet.at(18) == pytest.approx(46.7 * 3)
    assert cm.default_kernels("MyOwnNet") == snn
    line = cm.KernelCount.from_measured([(3, 40.0), (9, 82.0), (33, 250.0)])
    assert line.per_linear == pytest.approx(7.0) and line.fixed == pytest.approx(19.0)


def test_settings_from_a_config():
    assert cm.GpuRun.from_train({"jobs_per_gpu": 4, "tf32": True}) == cm.GpuRun(streams=4, jobs_per_gpu=4, tf32=True)
    assert cm.GpuRun.from_train({"streams": 2}).streams == 2
    lines = cm.assumption_lines()
    assert any(line.startswith("SMs: 132") for line in lines) and any("kernel floor in a graph: 1.5 / 3 us" in line
                                                                      for line in lines)
