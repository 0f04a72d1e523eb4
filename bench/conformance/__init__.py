"""Conformance checks: our models against golden data made by the original code (``shared/conformance``).

``bilayer-bench conformance {bilayer,fomm} CASE_DIR`` loads the case's checkpoint through the public loading
API, runs the case's inputs, compares every array of the case that our pipeline produces, prints the
maximum error per array and exits non-zero when any is over its tolerance.
"""

from __future__ import annotations

from bench.conformance.common import Comparison, compare, format_comparisons
from bench.registry import Registry

__all__ = ["CHECKS", "Comparison", "compare", "format_comparisons"]

# "module:function" taking the case folder and returning list[Comparison]
CHECKS: Registry[str] = Registry("conformance check")
CHECKS.register("bilayer", "bench.conformance.bilayer:run_case")
CHECKS.register("fomm", "bench.conformance.fomm:run_case")
