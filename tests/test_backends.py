"""Every loss against live Keras on TensorFlow, JAX, PyTorch, NumPy and legacy tf.keras 2.x.

Keras fixes its backend when it is imported, so tests/on_backend.py runs in
one process per backend (TensorFlow's too, with the same edge strategies and
example counts as the others); the five start together when this module's first
test asks for them (the machine's cores share the work) and each test below
waits for its own. A backend that is not installed fails its test: the
``test`` extra installs them all. A skipped test in a backend's run fails it
too: a skip must never count as a pass.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
BACKENDS = ("tensorflow", "jax", "torch", "numpy", "tf_keras")
#: TensorFlow once more with the fused accelerator off: the numpy kernels alone
#: must agree with Keras too (the other runs use the accelerator, as users do,
#: on inputs of every size: LOSSBOUNDS_ACCELERATOR=always).
RUNS = (*BACKENDS, "tensorflow-numpy-kernels")
#: Each backend's run is a few minutes; a hang fails it rather than CI.
TIMEOUT = 40 * 60


class _Run:
    """One backend's pytest run, started at once, waited for by its test."""

    def __init__(self, run: str, folder: Path):
        self.report = folder / f"{run}.xml"
        self.log = (folder / f"{run}.log").open("w+")
        backend, _, kernels = run.partition("-")
        env = dict(os.environ, LOSSBOUNDS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
                   LOSSBOUNDS_ACCELERATOR="off" if kernels else "always")
        env.pop("KERAS_BACKEND", None)
        if backend != "tf_keras":
            env["KERAS_BACKEND"] = backend
        env["PYTHONPATH"] = os.pathsep.join(
            [str(TESTS), *filter(None, [env.get("PYTHONPATH")])])
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pytest", str(TESTS / "on_backend.py"), "-q",
             "-p", "no:cacheprovider", f"--junitxml={self.report}", "-rf"],
            cwd=TESTS.parent, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait(self) -> tuple[int, str]:
        try:
            code = self.process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = -1
        self.log.seek(0)
        return code, self.log.read()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("backends")
    started = {run: _Run(run, folder) for run in RUNS}
    yield started
    for run in started.values():
        if run.process.poll() is None:
            run.process.kill()


@pytest.mark.parametrize("backend", RUNS)
def test_every_loss_agrees_with_keras_on(backend, runs):
    run = runs[backend]
    code, output = run.wait()
    tail = "\n".join(output.splitlines()[-60:])
    assert code == 0, f"{backend}: pytest exited {code}\n{tail}"
    suite = ElementTree.parse(run.report).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    counts = {key: int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")}
    assert counts["tests"] >= 40, (backend, counts)  # every loss ran, not an empty collection
    assert counts["failures"] == counts["errors"] == counts["skipped"] == 0, (backend, counts)
