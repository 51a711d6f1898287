"""The reference engine (snnbench.training.engine.train_config): a failure inside training is
recorded, and the next configuration trains."""

from __future__ import annotations

import numpy as np
import torch

from snnbench.settings import TrainSettings
from snnbench.training.engine import train_config
from snnbench.training.recipe import TaskTensors
from snnbench.training.task import Task


def test_a_simulated_out_of_memory_error_is_recorded_and_the_grid_goes_on(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    task = Task(kind="multiclass", n_out=2,
                X={"train": X[:40], "validation": X[40:50], "test": X[50:]},
                y={"train": y[:40], "validation": y[40:50], "test": y[50:]})
    data = TaskTensors(task, torch.device("cpu"))
    settings = TrainSettings(epochs=2)
    config = {"n_hidden": 16, "n_layers": 2, "lr": 0.1, "dropout": 0.0, "layer_form": "rectangular"}
    real_step = torch.optim.SGD.step

    def out_of_memory(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")

    monkeypatch.setattr(torch.optim.SGD, "step", out_of_memory)
    failed = train_config("SNN", config, data, settings=settings, seed=0, device=torch.device("cpu"))
    assert failed.status == "failed" and failed.error.startswith("OutOfMemoryError: CUDA out of memory")
    monkeypatch.setattr(torch.optim.SGD, "step", real_step)
    assert train_config("SNN", config, data, settings=settings, seed=0, device=torch.device("cpu")).status == "ok"
