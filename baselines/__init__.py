"""Baselines: First Order Motion Model (``baselines.fomm``) and sanity baselines (``baselines.sanity``).

Depends on torch only; never imports ``bench``.
"""
