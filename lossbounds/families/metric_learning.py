"""Metric-learning losses: Circle.

Each loss here is one `LossDefinition` (see `lossbounds.registry` and
CONTRIBUTING.md): its names, options, per-sample function, bounds with their
derivations, and the words `explain` uses for it.
"""

from __future__ import annotations

# The per-sample functions: lossbounds exports them.
__all__: list[str] = []
