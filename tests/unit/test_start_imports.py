"""What a server's start imports: SciPy waits until a live session resamples or a diarized run clusters.

Importing `scipy.signal` and `scipy.cluster` at the top of two modules cost the start to `/ready` 2 s
of its 5.5 s (measured: 3.55 s without), for parts most servers never run. A fresh interpreter shows
what the start really pulls in; the modules' own tests (test_live_parts, test_speaker_clustering) show
the parts still work.
"""

from __future__ import annotations

import subprocess
import sys

_START = """
import sys
import gigaam_api.app, gigaam_api.cli, gigaam_api.pipeline.assembly
import gigaam_api.engines.gigaam.adapter, gigaam_api.engines.gigaam.openvino
import gigaam_api.engines.gigaam.loader, gigaam_api.engines.gigaam.onnxruntime, gigaam_api.speakers.onnx
print(" ".join(sorted(m for m in sys.modules if m == "scipy" or m.startswith("scipy."))))
"""


def test_the_server_start_imports_no_scipy() -> None:
    result = subprocess.run([sys.executable, "-c", _START], capture_output=True, text=True, check=True)
    assert result.stdout.split() == []


_PRELOAD_WITHOUT_DESCRIPTORS = """
import logging, os, resource, sys
from gigaam_api.pipeline import assembly
logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stdout)
_, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))  # a container's limit can be a million
held = []
try:
    while True:
        held.append(os.open(os.devnull, os.O_RDONLY))
except OSError:
    pass
assembly._import_scipy()
for fd in held:
    os.close(fd)
assembly._import_scipy()
print("scipy.signal" in sys.modules, "scipy.cluster.hierarchy" in sys.modules)
"""


def test_a_preload_short_of_file_descriptors_warns_and_a_later_one_loads() -> None:
    # The CI's flood of connections at `ulimit -n 64` once met the preload thread: a traceback in the log.
    result = subprocess.run(
        [sys.executable, "-c", _PRELOAD_WITHOUT_DESCRIPTORS], capture_output=True, text=True, check=True
    )
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "SciPy was not preloaded (Too many open files); it loads on first use"
    assert lines[-1] == "True True"
