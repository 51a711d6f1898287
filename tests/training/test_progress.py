"""The progress line of a grid: one redrawn line in a terminal, an ETA weighed by cost."""

from __future__ import annotations


def test_progress_redraws_one_line_in_a_terminal_and_weighs_the_eta_by_cost(monkeypatch):
    import io

    from snnbench.training import progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    clock = iter([0.0, 10.0, 10.0])
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    screen = Terminal()
    bar = progress.GridProgress(label="uci/iris/SNN/split0", costs=[1.0, 3.0], stream=screen)
    bar.update(0, "n_layers=2 -> val 0.9")  # a quarter of the cost done in 10 s: 30 s to go
    bar.close()
    text = screen.getvalue()
    assert text.startswith("\r\x1b[2Kuci/iris/SNN/split0 [1/2] n_layers=2 -> val 0.9 | elapsed 0m10s ETA 0m30s")
    assert text.endswith("\n")
