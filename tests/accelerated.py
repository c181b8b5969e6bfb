"""The fused accelerator switched on or off for inputs of any size.

Outside the tests, inputs of fewer than `lossbounds.fused.MIN_ELEMENTS`
elements take numpy's kernels (compiling would cost more than it saves);
the tests check the fused kernels on small inputs too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import lossbounds
from lossbounds import fused


@contextmanager
def accelerator(enabled: bool) -> Iterator[None]:
    """`lossbounds.accelerator(enabled)`, with no smallest input for the fused kernels."""
    with lossbounds.accelerator(enabled), mock.patch.object(fused, "MIN_ELEMENTS", 0):
        yield
