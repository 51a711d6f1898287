"""snnbench: a faithful, fast reproduction of the benchmarks of Self-Normalizing Neural Networks."""

__version__ = "0.1.0"
