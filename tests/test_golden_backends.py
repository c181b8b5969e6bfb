"""Every loss against Keras values recorded on every backend (tests/golden/backends/*.json).

tests/golden/make_backend_golden.py records them from live Keras, one
process per backend; this test needs numpy alone, so it pins each backend's
values even where that backend is not installed. The contract is
tests/on_backend.py's: the same values, dtype and shape (float16 results to
a few units of float16), and an error wherever Keras raised.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from compare import assert_close
from keras_reference import ours
from loss_table import ROWS

import lossbounds

FOLDER = Path(__file__).parent / "golden" / "backends"
BACKENDS = ("tensorflow", "jax", "torch", "numpy", "tf_keras")
RECORDS = {backend: json.loads((FOLDER / f"{backend}.json").read_text()) for backend in BACKENDS}


def decode(spec):
    if spec is None:
        return None
    data = [float(v) if isinstance(v, str) else v for v in spec["data"]]
    return np.asarray(data, dtype=spec["dtype"]).reshape(spec["shape"])


def _call(case, backend):
    y_true, y_pred = decode(case["y_true"]), decode(case["y_pred"])
    options = case["options"]
    if case["api"] == "function":
        function = getattr(lossbounds, case["loss"])
        return ours(lambda: function(y_true, y_pred, backend=backend, **options))
    return ours(lambda: lossbounds.loss(
        case["loss"], y_true, y_pred, reduction=case["reduction"],
        sample_weight=decode(case["sample_weight"]), backend=backend, **options))


def test_every_backend_has_every_loss_it_knows():
    for backend, record in RECORDS.items():
        recorded = {case["loss"] for case in record["cases"]}
        expected = {entry["name"] for entry in lossbounds.available_losses()
                    if backend in entry["backends"]}
        assert recorded == expected, backend


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(ROWS))
def test_agrees_with_recorded_keras(backend, name):
    cases = [case for case in RECORDS[backend]["cases"] if case["loss"] == name]
    failures = []
    for case in cases:
        context = f"{name} {case['api']} {case['inputs']} {case['options']} {case['y_pred']['dtype']}"
        kind, value = _call(case, backend)
        try:
            if "keras_raises" in case:
                assert kind == "error", f"{context}: Keras raised {case['keras_raises']}"
                continue
            assert kind == "value", f"{context}: {value}"
            expected = decode(case["keras"])
            half = expected.dtype == np.float16 or case["y_pred"]["dtype"] == "float16"
            rtol = max(ROWS[name].rtol, 4e-3) if half else ROWS[name].rtol
            atol = max(ROWS[name].atol, 1e-3) if half else ROWS[name].atol
            assert_close(value, expected, context=context, rtol=rtol, atol=atol)
        except AssertionError as error:
            failures.append(str(error).splitlines()[0])
    assert not failures, f"{len(failures)} of {len(cases)} on {backend}:\n" + "\n".join(failures[:10])
