"""Benchmarks and their peers (JAX, the lecture's literal listing): tooling, not library.
``python -m keras_lab.bench`` runs them."""
