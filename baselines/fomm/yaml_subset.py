"""A reader for the small YAML subset of first-order-model's ``config/*.yaml`` (no PyYAML dependency).

Supported: nested block mappings by indentation, ``# comments``, blank lines, scalars (integers, floats such
as ``2.0e-4``, ``True``/``False``, ``null``, quoted or plain strings), flow lists ``[1, 0.5]`` of scalars and
block lists of scalars (``- item``). Anything else is a ``ValueError`` that names the line.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["parse_yaml_subset"]

_INT = re.compile(r"^[-+]?\d+$")
_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _scalar(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return [_scalar(item) for item in inner.split(",")] if inner else []
    lowered = text.lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    if lowered in ("null", "~", ""):
        return None
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text


def _strip_comment(line: str) -> str:
    quote = ""
    for i, char in enumerate(line):
        if char in "'\"":
            quote = "" if quote == char else (quote or char)
        elif char == "#" and not quote and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
    return line.rstrip()


def parse_yaml_subset(text: str) -> dict[str, Any]:
    """Parse ``text`` into nested dicts and lists."""
    lines = [(n + 1, _strip_comment(raw)) for n, raw in enumerate(text.splitlines())]
    lines = [(n, line) for n, line in lines if line.strip()]
    root: dict[str, Any] = {}
    stack: list[tuple[int, Any]] = [(0, root)]  # (indent, container) from the root to the current block
    pending: tuple[int, dict[str, Any], str] | None = None  # a key whose value is the block that follows
    for number, line in lines:
        indent = len(line) - len(line.lstrip(" "))
        content = line.strip()
        if pending is not None:
            parent_indent, parent, key = pending
            pending = None
            if indent > parent_indent:
                child: Any = [] if content.startswith("-") else {}
                parent[key] = child
                stack.append((indent, child))
        while len(stack) > 1 and indent < stack[-1][0]:
            stack.pop()
        if indent != stack[-1][0]:
            raise ValueError(f"line {number}: inconsistent indentation")
        container = stack[-1][1]
        if content.startswith("-"):
            if not isinstance(container, list):
                raise ValueError(f"line {number}: list item where a mapping key was expected")
            container.append(_scalar(content[1:]))
            continue
        if not isinstance(container, dict) or ":" not in content:
            raise ValueError(f"line {number}: expected 'key: value', got {content!r}")
        key, _, value = content.partition(":")
        key = key.strip().strip("'\"")
        if value.strip():
            container[key] = _scalar(value)
        else:
            container[key] = None
            pending = (indent, container, key)
    return root
