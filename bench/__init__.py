"""Benchmark suite for one-shot talking-head models."""
