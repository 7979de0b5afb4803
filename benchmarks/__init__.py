"""Benchmarks of eagerjax against the hand-written jax.jit step and others: ``python -m benchmarks``."""
