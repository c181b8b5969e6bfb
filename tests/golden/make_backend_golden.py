"""Record every loss's Keras values on every backend: ``tests/golden/backends/<backend>.json``.

Run from the repository root, with the ``test`` extra installed::

    python tests/golden/make_backend_golden.py            # every backend, one process each
    python tests/golden/make_backend_golden.py jax torch  # some

Keras fixes its backend at import, so the script runs itself once per
backend with ``KERAS_BACKEND`` set (``tf_keras`` imports legacy tf.keras 2.x).
The cases come from the loss table (tests/loss_table.py) with fixed seeds:
each option of each loss, inputs in float16, float32 and float64, the
function API and the class API (two reductions, weights), and the same
inputs with exact edge values mixed in. Each case stores its inputs, so the
file stands on its own; tests/test_golden_backends.py checks lossbounds
against it with numpy alone. A case records Keras' values (with dtype and
shape) or the kind of exception Keras raised.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
OUT = HERE / "backends"
BACKENDS = ("tensorflow", "jax", "torch", "numpy", "tf_keras")
SEEDS = (11,)
K = 3


def encode(array):
    """An array as JSON: dtype, shape and values (non-finite values as strings)."""
    if array is None:
        return None
    array = np.asarray(array)
    if array.dtype.kind == "f":  # the shortest decimal that reads back as the same value
        values = [float(np.format_float_scientific(v, unique=True)) if np.isfinite(v) else str(v)
                  for v in array.ravel()]
    else:
        values = array.ravel().tolist()
    return {"dtype": array.dtype.name, "shape": list(array.shape), "data": values}


def _cases():
    """(loss, api, y_true, y_pred, options, class arguments) for every case."""
    from loss_table import ROWS, case_inputs

    for name, row in ROWS.items():
        for index in range(len(row.options)):
            for seed in SEEDS:
                y_true, y_pred, options = case_inputs(name, index, seed, K)
                edged = y_pred.copy()
                mask = np.random.default_rng(seed).random(y_pred.shape) < 0.3
                edges = np.asarray(row.edges(options), np.float64)
                if edges.size and y_pred.dtype.kind == "f":
                    edged[mask] = edges[np.arange(mask.sum()) % edges.size].astype(np.float32)
                for pred, tag in ((y_pred, "table"), (edged, "edges")):
                    for dtype in (np.float16, np.float32, np.float64):
                        truth = y_true.astype(dtype) if y_true.dtype.kind == "f" else y_true
                        with np.errstate(over="ignore"):
                            cast = pred.astype(dtype) if pred.dtype.kind == "f" else pred
                        if "ignore_class" not in options:
                            yield name, "function", tag, truth, cast, options, {}
                    weight = np.linspace(0.0, 1.0, len(pred)).astype(np.float32)
                    for reduction, sample_weight in (("sum_over_batch_size", None),
                                                     ("sum", weight)):
                        yield name, "class", tag, y_true, pred, options, {
                            "reduction": reduction, "sample_weight": sample_weight}


def record(backend: str) -> None:
    """Call Keras on every case in this process (whose backend is `backend`)."""
    from keras_reference import BACKEND, keras_class, keras_function

    from lossbounds.backends import get_backend
    from lossbounds.registry import get_loss

    assert backend == BACKEND, (backend, BACKEND)
    cases = []
    for name, api, tag, y_true, y_pred, options, extra in _cases():
        if not get_backend(backend).has_loss(get_loss(name)):
            continue
        if api == "function":
            kind, result = keras_function(name, y_true, y_pred, **options)
        else:
            kind, result = keras_class(name, y_true, y_pred, **extra, **options)
        case = {"loss": name, "api": api, "inputs": tag, "options": options,
                "y_true": encode(y_true), "y_pred": encode(y_pred),
                "reduction": extra.get("reduction"),
                "sample_weight": encode(extra.get("sample_weight"))}
        if kind == "value":
            case["keras"] = encode(result)
        else:
            case["keras_raises"] = type(result).__name__
        cases.append(case)
    OUT.mkdir(exist_ok=True)
    import keras_reference

    version = keras_reference.keras.__version__
    path = OUT / f"{backend}.json"
    path.write_text(json.dumps({"backend": backend, "keras": version, "cases": cases},
                               indent=None, separators=(",", ":")) + "\n")
    print(f"{path}: {len(cases)} cases (Keras {version})")


def main(argv: list[str]) -> None:
    if os.environ.get("LOSSBOUNDS_BACKEND") and argv == ["--record"]:
        sys.path[:0] = [str(TESTS), str(TESTS.parent)]
        record(os.environ["LOSSBOUNDS_BACKEND"])
        return
    for backend in argv or BACKENDS:
        if backend not in BACKENDS:
            raise SystemExit(f"unknown backend {backend!r}; expected some of {BACKENDS}")
        env = dict(os.environ, LOSSBOUNDS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        env.pop("KERAS_BACKEND", None)
        if backend != "tf_keras":
            env["KERAS_BACKEND"] = backend
        subprocess.run([sys.executable, __file__, "--record"], env=env, check=True)


if __name__ == "__main__":
    main(sys.argv[1:])
