"""JSONata transforms of outside events (seed 002's `transform: {type: jsonata, ...}`), beside JMESPath.

Evaluated by the `jsonata-python` package (pure Python, no dependencies), each evaluation under a
time and depth limit so a runaway expression cannot stall the scheduler. Importing that package
raises the process's recursion limit to 10,000 as a side effect: the limit is put back at once, and
its own depth limit (MAX_DEPTH) keeps evaluations far below it.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

TIMEOUT_MS = 1_000
MAX_DEPTH = 200
NEEDS_PACKAGE = (
    "JSONata transforms need the jsonata-python package (pip install 'jsonata-python>=0.7.1,<0.8'); "
    "or write the transform in JMESPath (type: jmespath)"
)


@functools.cache
def _module() -> Any:
    limit = sys.getrecursionlimit()
    try:
        import jsonata
    except ImportError:
        raise ValueError(NEEDS_PACKAGE) from None
    finally:
        sys.setrecursionlimit(limit)
    return jsonata


@functools.lru_cache(maxsize=1024)
def compile_jsonata(expression: str) -> Any:
    """The parsed JSONata expression; ValueError naming the problem (or the missing package)."""
    if not isinstance(expression, str) or not expression.strip():
        raise ValueError(f"must be a JSONata expression, not {expression!r}")
    jsonata = _module()
    try:
        return jsonata.Jsonata(expression)
    except Exception as exc:  # noqa: BLE001 - the parser raises its own JException (and others on odd input)
        raise ValueError(f"{expression!r} is not valid JSONata: {' '.join(str(exc).split())}") from None


def evaluate_jsonata(expression: str, document: Any) -> Any:
    """The expression over the document, within TIMEOUT_MS and MAX_DEPTH (the error says which was hit)."""
    compiled = compile_jsonata(expression)
    frame = compiled.create_frame()
    frame.set_runtime_bounds(TIMEOUT_MS, MAX_DEPTH)
    return compiled.evaluate(document, frame)
