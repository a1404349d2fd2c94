"""Render docs/benchmarks.json as docs/benchmarks.md: tables plus each target, met or not."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
Report = dict[str, Any]


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _check(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _limit(report: Report) -> list[str]:
    results = report["limit"]["results"]
    batches = sorted({p["batch"] for r in results for p in r["points"]})
    header = [
        "configuration",
        *(f"batch {b}" for b in batches),
        "load (cached)",
        "load (no cache)",
        "peak RSS",
        "text vs ort-fp32",
    ]
    lines = [_row(*header), _row(*["---"] * len(header))]
    for r in results:
        by_batch = {p["batch"]: p["realtime"] for p in r["points"]}
        no_cache = f"{r['load_seconds_no_cache']:.1f} s" if "load_seconds_no_cache" in r else "–"
        lines.append(
            _row(
                _label(report, r["label"]),
                *(f"{by_batch[b]:.1f}×" for b in batches),
                f"{r['load_seconds']:.1f} s",
                no_cache,
                f"{r['peak_rss_mb']:.0f} MB",
                _agreement(r.get("text_vs_reference")),
            )
        )
    return lines


def _agreement(agreement: Report | None) -> str:
    if agreement is None:
        return "–"
    return "same" if agreement["same_text"] else f"CER {agreement['cer']:.2%}"


def _placement(report: Report) -> list[str]:
    """Where the execution provider's rows ran: nodes per provider, from a profiled run."""
    lines = []
    for r in report["limit"]["results"]:
        where = r.get("placement")
        if where is None:
            continue
        parts = [
            f"{p}: {w['nodes']} nodes, {w['time_share']:.0%} of kernel time ({', '.join(w['ops'])})"
            for p, w in where.items()
        ]
        twin = r.get("text_vs_same_files")
        if twin is not None:
            parts.append(f"text vs {twin['label']} (same files): {_agreement(twin)}")
        lines.append(
            f"- {r['label']} (onnxruntime-openvino {r.get('onnxruntime_openvino', '?')}): " + "; ".join(parts)
        )
    return (
        [
            "Where the execution provider's configurations ran (one profiled 5-s run), and their text:",
            "",
            *lines,
            "",
        ]
        if lines
        else []
    )


def _label(report: Report, label: str) -> str:
    return f"**{label}** (auto)" if label == report["default"] else label


def _service(report: Report) -> list[str]:
    header = ["configuration", "file", "mode", "× realtime", "speech × realtime", "first segment", "peak RSS"]
    lines = [_row(*header), _row(*["---"] * len(header))]
    for key, entry in report["service"].items():
        for name in ("10min_plain", "10min_stream", "1h_plain", "1h_stream"):
            if name in entry:
                r = entry[name]
                first = (
                    f"{r['first_segment_after_upload']:.2f} s" if "first_segment_after_upload" in r else "–"
                )
                file, mode = name.split("_")
                lines.append(
                    _row(
                        _label(report, key),
                        file,
                        mode,
                        f"{r['realtime']:.1f}×",
                        f"{r['speech_realtime']:.1f}×",
                        first,
                        f"{r['peak_rss_mb']:.0f} MB",
                    )
                )
    return lines


def _alternating(report: Report) -> list[str]:
    """The default and ONNX Runtime int8 up at once, their 10-minute requests in turn (bench/alternate.py)."""
    alternating = report.get("alternating")
    if alternating is None:
        return []
    labels = list(alternating["realtime"])
    (pair, ratios), *_ = alternating["ratios"].items()
    return [
        f"### {' and '.join(labels)} in turn ({alternating['rounds']} rounds, × realtime on 10 min)",
        "",
        "Both servers up at once; each round sends the recording to each in turn (the order flips every",
        "round), so the two requests of a round share that moment's load. The server not being measured",
        f"spent at most {alternating['idle_server_cpu_seconds_max']} CPU seconds during the other's request.",
        "",
        _row("round", *labels, pair),
        _row(*["---"] * (len(labels) + 2)),
        *(
            _row(i + 1, *(alternating["realtime"][label][i] for label in labels), ratios[i])
            for i in range(alternating["rounds"])
        ),
        _row(
            "median",
            *(alternating["median_realtime"][label] for label in labels),
            alternating["median_ratio"][pair],
        ),
        "",
    ]


def _fidelity_and_start(report: Report) -> list[str]:
    header = [
        "configuration",
        "CER 10 min",
        "CER 1 h",
        "words/min 10 min",
        "words/min 1 h",
        "cold start (cached)",
        "cold start (no cache)",
        "efficiency",
    ]
    lines = [_row(*header), _row(*["---"] * len(header))]
    for key, e in report["service"].items():
        cer = e.get("cer", {})
        no_cache = f"{e['cold_start_no_cache_seconds']:.1f} s" if "cold_start_no_cache_seconds" in e else "–"
        lines.append(
            _row(
                _label(report, key),
                f"{cer['10min']:.2%}" if "10min" in cer else "–",
                f"{cer['1h']:.2%}" if "1h" in cer else "–",
                *(_words(e.get(f"{f}_plain", {})) for f in ("10min", "1h")),
                f"{e['cold_start_seconds']:.1f} s",
                no_cache,
                f"{e['efficiency']:.2f}",
            )
        )
    return lines


def _words(run: Report) -> str:
    """Words per minute of a plain run's transcript (runs from before it was recorded have none)."""
    return f"{run['words_per_minute']:.1f}" if "words_per_minute" in run else "–"


def _peak_rss(entry: Report) -> float:
    runs = ("10min_plain", "10min_stream", "1h_plain", "1h_stream")
    return float(max(entry[k]["peak_rss_mb"] for k in runs if k in entry))


def _queue(report: Report) -> list[str]:
    """The waiting line's section; reports from before it existed have none."""
    if "queue" not in report:
        return []
    wait, cost = report["queue"]["line_wait"], report["queue"]["waiting_cost"]
    n = cost["waiting"]
    return [
        f"## The waiting line ({wait['requests']} concurrent 10-s requests; "
        f"MAX_RUNNING={wait['max_running']}, MAX_WAITING={wait['max_waiting']})",
        "",
        _row("refused", "alone", "p50", "p95", "max", "mean time in line"),
        _row("---", "---", "---", "---", "---", "---"),
        _row(
            wait["refused"],
            f"{wait['alone_seconds']} s",
            f"{wait['latency_p50_seconds']} s",
            f"{wait['latency_p95_seconds']} s",
            f"{wait['latency_max_seconds']} s",
            f"{wait['line_wait_mean_seconds']} s",
        ),
        "",
        f"A waiting request's cost (server RSS with 0 and {n} complete uploads of "
        f"{cost['upload_bytes']} bytes in line): "
        f"{cost['rss_mb_0_waiting']} MB → {cost[f'rss_mb_{n}_waiting']} MB, "
        f"{cost['rss_kb_per_waiting_request']} KB of RAM and {cost['spool_bytes_per_waiting_request']} bytes",
        "of disk (its upload) per waiting request.",
        "",
    ]


def _jobs(report: Report) -> list[str]:
    """The jobs path (`bench/jobs.py`), when the run measured it."""
    j = report.get("jobs")
    if j is None:
        return []
    o, sched = j["overhead_10min"], j["scheduling"]
    rows = [_row(job["kind"], f"{job['started']} s", f"{job['ended']} s") for job in sched["jobs"]]
    return [
        "## Jobs (`/v1/jobs`, ONNX Runtime fp32)",
        "",
        f"The 10-minute recording as a plain request {o['plain_seconds']} s, as a job (submit, poll, fetch)"
        f" {o['job_seconds']} s: {o['overhead_percent']:+} % ("
        + ("same text" if o["same_text"] else "DIFFERENT text")
        + ").",
        "",
        "A backlog submitted at once, 2 workers:",
        "",
        _row("job", "started", "ended"),
        _row("---", "---", "---"),
        *rows,
        "",
        "Started in submission order: "
        + ("yes" if sched["started_in_submission_order"] else "NO")
        + f"; a 10-s request took {sched['interactive_latency_idle_seconds']} s idle and "
        f"{sched['interactive_latency_during_backlog_seconds']} s (p50) while the backlog ran.",
        "",
    ]


def _dedup(report: Report) -> list[str]:
    """Deduplicated retries (`bench/dedup.py`), when the run measured them."""
    d = report.get("dedup")
    if d is None:
        return []
    return [
        f"## Deduplicated retries ({d['audio_seconds']} s of audio, {d['upload_mb']} MB upload)",
        "",
        _row("case", "seconds", "batches"),
        _row("---", "---", "---"),
        _row("first run", d["first_run_seconds"], d["first_run_batches"]),
        _row("the same request again as `srt`: from the cache", d["cached_repeat_seconds"], 0),
        _row(
            f"a client gives up after {d['gave_up_after_seconds']:g} s and retries: start to result",
            d["give_up_and_retry_total_seconds"],
            d["give_up_and_retry_batches"],
        ),
        _row("… of which the retry waited", d["retry_wait_seconds"], "–"),
        "",
        f"The cached repeat is {d['cache_speedup']}× faster than the run (the upload included); the retry",
        "attached to the run in flight" + (", so nothing ran twice." if d["retry_attached"] else " (NOT)."),
        "",
    ]


def render(report: Report) -> str:
    m = report["machine"]
    service = report["service"]
    default = report["default"]
    d = service[default]
    best_key = max(service, key=lambda k: service[k]["10min_plain"]["speech_realtime"])
    # Against the server's peak over both 10-minute runs before the hour: the first run also grows ONNX
    # Runtime's arena to its largest batch shapes, once per process, which is not growth per hour.
    before_hour = max(d[k]["peak_rss_mb"] for k in ("10min_plain", "10min_stream"))
    growth_per_hour = (d["1h_plain"]["peak_rss_mb"] - before_hour) / (50 / 60)
    fair = d["fairness"]
    ort_int8 = service.get("ort-int8")
    targets = [
        (
            "efficiency ≥ 0.9 (service speech throughput / best limit)",
            f"{service[best_key]['efficiency']:.2f} ({best_key})",
            service[best_key]["efficiency"] >= 0.9,
        ),
        (
            "VAD ≥ 1000× realtime on one core",
            f"{report['vad']['realtime']:.0f}×",
            report["vad"]["realtime"] >= 1000,
        ),
        (
            "first segment of the 1-hour stream ≤ 1 s after the upload ends",
            f"{d['1h_stream']['first_segment_after_upload']:.2f} s ({default})",
            d["1h_stream"]["first_segment_after_upload"] <= 1,
        ),
        (
            "server peak RSS ≤ 0.9 GB",
            f"{_peak_rss(d):.0f} MB ({default})",
            _peak_rss(d) <= 900,
        ),
        (
            "cold start to `/ready` with a cached IR ≤ 3 s",
            f"{d['cold_start_seconds']:.1f} s ({default})",
            d["cold_start_seconds"] <= 3,
        ),
        (
            "peak RSS grows ≤ 30 MB per audio hour (1 h against the 10-min runs before it)",
            f"{growth_per_hour:+.1f} MB/h ({default})",
            growth_per_hour <= 30,
        ),
        (
            "10-s request during a 1-hour job ≤ 3× its latency alone (p50)",
            f"{fair['ratio_p50']:.2f}×",
            fair["ratio_p50"] <= 3,
        ),
    ]
    best_limit = {r["label"]: max(p["realtime"] for p in r["points"]) for r in report["limit"]["results"]}
    if {"ov-int8-static", "ort-int8"} <= best_limit.keys():
        ratio = best_limit["ov-int8-static"] / best_limit["ort-int8"]
        targets.append(
            (
                "int8 arithmetic's engine limit ≥ 2× ONNX Runtime int8's (best batch of each)",
                f"{ratio:.2f}× (ov-int8-static vs ort-int8)",
                ratio >= 2,
            )
        )
    if ort_int8 is not None:
        ratio = d["10min_plain"]["realtime"] / ort_int8["10min_plain"]["realtime"]
        measured = f"{ratio:.2f}× ({default} vs ort-int8, one after the other)"
        if alternating := report.get("alternating"):
            ratio = alternating["median_ratio"][f"{default}/ort-int8"]
            measured = f"{ratio:.3f}× (median of {alternating['rounds']} rounds in turn; {measured})"
        targets.append(
            ("default service throughput on 10 min ≥ 2× ONNX Runtime int8's", measured, ratio >= 2)
        )
        if "cer" in d and "cer" in ort_int8:
            worst = max(d["cer"][f] - ort_int8["cer"][f] for f in d["cer"])
            targets.append(
                (
                    "default character edit rate vs fp32 no worse than ONNX Runtime int8's (10 min, 1 h)",
                    " / ".join(f"{d['cer'][f]:.2%} vs {ort_int8['cer'][f]:.2%}" for f in d["cer"]),
                    worst <= 0,
                )
            )
    limit = report["limit"]
    params = limit["model"]["params"] / 1e6
    vad = report["vad"]
    sizes = report["installed"].get("by_extras_mb", {})
    out = [
        "# Benchmarks",
        "",
        "Reproduce with:",
        "",
        "```",
        report["command"],
        "```",
        "",
        "The real GigaAM weights cannot be downloaded here, so `make bench` builds a full-size GigaAM v3",
        f"CTC with random weights ({params:.1f} M parameters; fp32, ONNX Runtime int8 and the OpenVINO int8",
        "IRs, weight-only and int8-static where the CPU has VNNI) into a cache outside the repository: same",
        "architecture, same compute. Recordings",
        "are espeak-ng Russian speech with natural pauses (10 minutes and 1 hour). Figures are medians of",
        "the runs listed in `docs/benchmarks.json`; the hour-long runs ran once.",
        "",
        f"Machine: {m.get('cpu', '?')}, {m.get('logical_cores', '?')} cores, "
        f"`NUM_THREADS={m.get('intra_op_threads', '?')}`, onnxruntime {m.get('onnxruntime', '?')}, "
        f"openvino {m.get('openvino', '?')}; AVX-512: {'yes' if limit.get('cpu_avx512') else 'no'}, "
        f"VNNI: {'yes' if limit.get('cpu_vnni') else 'no'}, "
        f"bf16: {'yes' if limit.get('cpu_bf16') else 'no'}. "
        f"Load average before/after: {m.get('load_average')} / {m.get('load_average_after')}.",
        "",
        f"`auto` chose **{default}** on this machine. {limit.get('not_measured', '')}",
        "No GPU here, so no GPU figures.",
        "",
        "## Targets",
        "",
        _row("target", "measured", ""),
        _row("---", "---", "---"),
        *(_row(name, value, _check(ok)) for name, value, ok in targets),
        "",
        "## The limit: raw engine throughput per runtime × precision (20-s chunks, × realtime)",
        "",
        "Each configuration in its own process; load = `load_recognizer` until ready (OpenVINO: with and",
        "without its compiled-model cache); peak RSS of that process, including loading. `ort-ovep-*`:",
        "ONNX Runtime with OpenVINO's execution provider (`onnxruntime-openvino`, its own venv) on the",
        "same ONNX files as `ort-*`. Text: the last batch's transcripts against ORT fp32's.",
        *(
            [
                "Building the int8 IR from the fp32 ONNX file (NNCF, INT8_ASYM) took "
                f"{limit['ir_conversion_seconds']:.0f} s."
            ]
            if "ir_conversion_seconds" in limit
            else []
        ),
        *([_static_ir(limit["static_ir"])] if "static_ir" in limit else []),
        "",
        *_limit(report),
        "",
        *_placement(report),
        f"## VAD alone: {vad['realtime']:.0f}× realtime (1 thread, {vad['audio_seconds']} s of audio)",
        "",
        "## The service end to end (HTTP, a real `gigaam-api serve` process per configuration)",
        "",
        "`speech × realtime` counts only the audio in the chunks VAD kept, as the limit does.",
        "",
        *_service(report),
        "",
        *_alternating(report),
        "## Fidelity and start-up",
        "",
        "CER: character edit rate of each configuration's transcript against ONNX Runtime fp32's, on the",
        "same recording (random weights: this measures numeric agreement, not accuracy); words per minute",
        "of the same transcripts show a lost phrase, which the edit rate could hide. Cold start:",
        "process start to `/ready` with local weights and the IR built; OpenVINO once more with an empty",
        "compiled-model cache. Efficiency: 10-min speech × realtime over the configuration's best limit.",
        "",
        *_fidelity_and_start(report),
        "",
        f"## Fairness: a 10-s request (latency, seconds; {default})",
        "",
        _row("", "p50", "p95"),
        _row("---", "---", "---"),
        _row("alone", fair["alone_p50"], fair["alone_p95"]),
        _row("while a 1-hour job runs", fair["busy_p50"], fair["busy_p95"]),
        "",
        *_queue(report),
        *_dedup(report),
        *_jobs(report),
        "## Installed size (`uv sync --no-dev` into a scratch venv)",
        "",
        _row("extras", "MB"),
        _row("---", "---"),
        *(_row(name, mb) for name, mb in sizes.items()),
        "",
        "## Notes",
        "",
        "- The limit feeds 20-s chunks; the service's VAD chunks are mostly 15-22 s and attention costs grow",
        "  with length, so efficiency can exceed 1.",
        "- Peak RSS is mostly the model: the fp32 graph is 844 MiB on disk, the ONNX Runtime int8 file",
        "  224 MB; OpenVINO reading the fp32 ONNX file holds it twice while compiling.",
        "",
    ]
    return "\n".join(out)


def _static_ir(verdict: dict[str, Any]) -> str:
    """One sentence on the int8-static IR: how long calibration and quantization took, and its gate."""
    built = f"{verdict['build_seconds']:.0f} s" if verdict.get("build_seconds") is not None else "–"
    kept = "kept" if verdict["accepted"] else "**not kept**"
    return (
        f"The int8-static IR (NNCF static quantization, calibration included) took {built}; "
        f"{kept}: {verdict['reason']}."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path, default=ROOT / "docs" / "benchmarks.json")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    args.out.write_text(render(json.loads(args.json.read_text(encoding="utf-8"))), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
