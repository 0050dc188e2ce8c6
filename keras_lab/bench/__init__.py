"""Benchmarks and their peers (JAX, the lecture's literal listing): tooling, not library.

``python -m keras_lab.bench`` runs them (:mod:`~keras_lab.bench.cli`); the workloads are in
:mod:`~keras_lab.bench.workloads` and :mod:`~keras_lab.bench.losses`, how they are timed in
:mod:`~keras_lab.bench.timing`, the JAX peer in :mod:`~keras_lab.bench.jax_peer`. None of
these imports TensorFlow until a workload runs.
"""

from keras_lab.bench.cli import all_ratios, main, run_benchmarks
from keras_lab.bench.workloads import bench_multistart

__all__ = ["all_ratios", "bench_multistart", "main", "run_benchmarks"]
