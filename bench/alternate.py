"""Two (or more) services on one recording, request by request in turn, for a ratio the load cannot skew.

On a shared VM the same configuration's 10-minute throughput moves by up to 20 % from one minute to the
next (int8-static: 35.6-44.0× within one sitting), so two services measured one after the other compare
two loads as much as two engines. Here every server is up at once and each round sends the recording to
each of them in turn (A B, then B A, …): the two requests of a round share the load of that moment, each
round gives a ratio, and the median of the rounds is the figure. The servers not being measured must stay
idle: their CPU seconds during the others' requests are reported beside the ratios.
"""

from __future__ import annotations

import statistics
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psutil

from bench.service import serve, transcribe

Report = dict[str, Any]


def _cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def alternate(
    models_dir: Path,
    settings: dict[str, dict[str, str]],
    path: Path,
    *,
    warm_up: Path,
    rounds: int,
    threads: int,
) -> Report:
    """`settings` maps a label to its server settings; the first label is the numerator of the ratios."""
    if rounds < 1:
        raise ValueError("rounds must be >= 1")
    labels = list(settings)
    seconds = 0.0  # the recording's length, as the servers report it
    realtime: dict[str, list[float]] = {label: [] for label in labels}
    idle_cpu = 0.0  # the most any idle server spent during one request of another
    with ExitStack() as stack:
        servers = {
            label: stack.enter_context(serve(models_dir, threads=threads, **settings[label]))
            for label in labels
        }
        # A short request each first: first-request costs (kernels, arenas) are not any round's.
        for server in servers.values():
            transcribe(server.url, warm_up, stream=False)
        for i in range(rounds):
            for label in labels if i % 2 == 0 else labels[::-1]:
                others = {
                    other: _cpu_seconds(s.process.pid) for other, s in servers.items() if other != label
                }
                result = transcribe(servers[label].url, path, stream=False)
                seconds = result.audio_seconds
                realtime[label].append(round(seconds / result.wall_seconds, 2))
                for other, before in others.items():
                    idle_cpu = max(idle_cpu, _cpu_seconds(servers[other].process.pid) - before)
                print(f"  round {i + 1}: {label} {realtime[label][-1]}× realtime", flush=True)
    first = labels[0]
    ratios = {
        label: [round(a / b, 3) for a, b in zip(realtime[first], realtime[label], strict=True)]
        for label in labels[1:]
    }
    return {
        "file_seconds": round(seconds, 1),
        "rounds": rounds,
        "realtime": realtime,
        "median_realtime": {label: round(statistics.median(v), 2) for label, v in realtime.items()},
        "ratios": {f"{first}/{label}": r for label, r in ratios.items()},
        "median_ratio": {f"{first}/{label}": round(statistics.median(r), 3) for label, r in ratios.items()},
        "idle_server_cpu_seconds_max": round(idle_cpu, 2),
    }
