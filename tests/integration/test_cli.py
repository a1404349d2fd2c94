"""`gigaam-api transcribe` as users run it: the installed console script, real files, a real terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.live_server import LiveServer
from tests.fixtures.speech import PAUSES, SENTENCES, garbage, long_speech, write_wav

SCRIPT = Path(sys.executable).with_name("gigaam-api")


@pytest.fixture
def env(models_dir: Path, tmp_path: Path) -> dict[str, str]:
    drop = {"MODEL", "API_KEY", "MODELS_DIR", "SPOOL_DIR", "LOG_LEVEL", "GIGAAM_RUNTIME", "GIGAAM_PRECISION"}
    environ = {k: v for k, v in os.environ.items() if k not in drop}
    environ.update(
        MODELS_DIR=str(models_dir), OFFLINE="true", SPOOL_DIR=str(tmp_path / "spool"), NUM_THREADS="1"
    )
    # What the `server` fixture runs: the same bytes.
    environ.update(GIGAAM_RUNTIME="onnxruntime", GIGAAM_PRECISION="fp32")
    return environ


@pytest.fixture
def inputs(audio_dir: Path, tmp_path: Path) -> Path:
    """The greeting in three formats under distinct names, and a file that is not audio."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name, fmt in (("a", "wav"), ("b", "mp3"), ("c", "ogg")):
        shutil.copy(audio_dir / f"greeting.{fmt}", folder / f"{name}.{fmt}")
    garbage(folder / "bad.mp3")
    return folder


def transcribe(
    env: dict[str, str], *args: str | Path, cwd: Path, umask: int = -1
) -> subprocess.CompletedProcess[str]:
    assert SCRIPT.exists(), f"{SCRIPT} is missing: run `make dev-deps`"
    return subprocess.run(
        [str(SCRIPT), "transcribe", *map(str, args)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        umask=umask,
    )


def api_body(server: LiveServer, path: Path, response_format: str) -> str:
    response = httpx.post(
        f"{server.url}/v1/audio/transcriptions",
        data={"response_format": response_format},
        files={"file": (path.name, path.read_bytes())},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    return response.text


def spool_files(env: dict[str, str]) -> list[Path]:
    spool = Path(env["SPOOL_DIR"])
    return list(spool.iterdir()) if spool.exists() else []


def test_several_files_and_globs_into_a_directory_with_a_bad_file_among_them(
    env: dict[str, str], inputs: Path, server: LiveServer
) -> None:
    # The pattern reaches the program unexpanded (no shell), as it would on Windows or quoted.
    result = transcribe(env, "in/*.wav", "in/b.mp3", "in/bad.mp3", "in/c.ogg", "in/gone.flac", "-o", "out",
                        "--format", "srt", cwd=inputs.parent)  # fmt: skip
    assert result.returncode == 1
    assert "in/bad.mp3: The file could not be decoded as audio" in result.stderr
    assert "in/gone.flac: no such file" in result.stderr
    assert "5 files: 3 transcribed, 2 failed" in result.stderr
    assert "Traceback" not in result.stderr and "\r" not in result.stderr, "no bars when stderr is a pipe"
    out = inputs.parent / "out"
    assert sorted(p.name for p in out.iterdir()) == ["a.srt", "b.srt", "c.srt"]
    assert (out / "a.srt").read_text() == api_body(server, inputs / "a.wav", "srt")
    for name in ("b.srt", "c.srt"):
        assert (out / name).read_text().startswith("1\n00:00:0")
    assert result.stdout == ""
    assert spool_files(env) == []


def test_one_file_prints_and_an_output_name_picks_the_format(
    env: dict[str, str], inputs: Path, server: LiveServer
) -> None:
    printed = transcribe(env, "in/a.wav", "--quiet", cwd=inputs.parent)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == api_body(server, inputs / "a.wav", "text")
    assert printed.stderr == "", "--quiet: no summary either"

    named = transcribe(env, "in/a.wav", "-o", "subtitles/a.vtt", cwd=inputs.parent)
    assert named.returncode == 0, named.stderr
    assert (inputs.parent / "subtitles" / "a.vtt").read_text() == api_body(server, inputs / "a.wav", "vtt")
    assert "1 file: 1 transcribed" in named.stderr

    beside = transcribe(env, "in/a.wav", "in/c.ogg", "-f", "verbose_json", "--words", cwd=inputs.parent)
    assert beside.returncode == 0, beside.stderr
    for name in ("a.json", "c.json"):
        body = json.loads((inputs / name).read_text())
        assert body["text"] and body["segments"] and body["words"]


def test_results_keep_the_mode_of_a_replaced_file_and_new_ones_follow_the_umask(
    env: dict[str, str], inputs: Path
) -> None:
    out = inputs.parent / "out"
    out.mkdir()
    (out / "a.srt").write_text("an older result\n")
    (out / "a.srt").chmod(0o644)  # read by a media server or nginx, say
    result = transcribe(env, "in/a.wav", "in/c.ogg", "-o", "out", "-f", "srt", cwd=inputs.parent, umask=0o027)
    assert result.returncode == 0, result.stderr
    assert (out / "a.srt").read_text() != "an older result\n"
    assert stat.S_IMODE((out / "a.srt").stat().st_mode) == 0o644, "a replaced file keeps its mode"
    assert stat.S_IMODE((out / "c.srt").stat().st_mode) == 0o640, "a new file: 0666 less the umask"
    assert sorted(p.name for p in out.iterdir()) == ["a.srt", "c.srt"], "no temporary file is left"


def test_flags_override_the_environment(env: dict[str, str], inputs: Path) -> None:
    other = transcribe(env, "in/a.wav", "--model", "gigaam-v3-rnnt", cwd=inputs.parent)
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip()
    unknown = transcribe(env, "in/a.wav", "--model", "whisper-large", cwd=inputs.parent)
    assert unknown.returncode == 2
    assert "MODEL" in unknown.stderr and "Traceback" not in unknown.stderr
    # Whether or not this build has a PRECISION setting yet, a bad value is refused by name.
    precision = transcribe(env, "in/a.wav", "--precision", "int3", cwd=inputs.parent)
    assert precision.returncode == 2
    assert "PRECISION" in precision.stderr and "Traceback" not in precision.stderr
    no_weights = transcribe({**env, "MODELS_DIR": str(inputs.parent / "none")}, "in/a.wav", cwd=inputs.parent)
    assert no_weights.returncode == 1
    assert "not available" in no_weights.stderr and "Traceback" not in no_weights.stderr
    clash = transcribe(env, "in/a.wav", "in/c.ogg", "-o", "both.srt", cwd=inputs.parent)
    assert clash.returncode == 2
    assert "names one file" in clash.stderr


def _on_a_terminal(
    env: dict[str, str], args: list[str], cwd: Path, *, interrupt_on: bytes | None
) -> tuple[int, str]:
    """Run with stderr on a pseudo-terminal; send SIGINT once `interrupt_on` has been printed."""
    controller, terminal = pty.openpty()
    # A terminal's foreground job takes Ctrl-C; a suite started in the background (`make test &`, nohup,
    # CI runners) ignores SIGINT and a child inherits that, so it would never see the signal. A handler
    # set here is reset to the default by exec, as it is for a shell's foreground job.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(
            [str(SCRIPT), "transcribe", *args], env=env, cwd=cwd, stderr=terminal, stdout=subprocess.DEVNULL
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    os.close(terminal)
    output = b""
    deadline = time.monotonic() + 900  # a hang guard: the loop ends when the process closes the terminal
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 1)
            if not ready:
                continue
            try:
                data = os.read(controller, 4096)
            except OSError:  # the terminal closed: the process has exited
                break
            if not data:
                break
            output += data
            if interrupt_on is not None and interrupt_on in output:
                process.send_signal(signal.SIGINT)
                interrupt_on = None
        return process.wait(timeout=60), output.decode("utf-8", "replace")
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()


@pytest.fixture(scope="module")
def ten_minutes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    audio, _ = long_speech(SENTENCES * 24, [*PAUSES * 24][: len(SENTENCES) * 24 - 1])
    return write_wav(tmp_path_factory.mktemp("cli") / "lecture.wav", audio)


def test_progress_bar_on_a_terminal_quiet_with_a_flag(env: dict[str, str], inputs: Path) -> None:
    code, output = _on_a_terminal(env, ["in/a.wav", "-o", "out"], inputs.parent, interrupt_on=None)
    assert code == 0, output
    bar = [line for line in output.split("\r") if "%|" in line][-1]  # the last redraw
    # Position/duration in seconds of audio, elapsed<remaining, speed.
    pattern = r"a\.wav: 100%\|█+\| (\d+)/\1 s \[\d\d:\d\d<\d\d:\d\d, [\d.]+× realtime\]\s*"
    assert re.fullmatch(pattern, bar), bar
    assert "1 file: 1 transcribed" in output

    code, output = _on_a_terminal(env, ["in/a.wav", "--quiet"], inputs.parent, interrupt_on=None)
    assert code == 0
    assert output == ""


def test_ctrl_c_stops_cleanly(env: dict[str, str], ten_minutes: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    # Interrupted at the first progress report: the decoder, VAD and a batch are all at work.
    code, output = _on_a_terminal(env, [str(ten_minutes), "-o", str(out)], tmp_path, interrupt_on=b"realtime")
    assert code == 130, output
    assert "gigaam-api: interrupted" in output
    assert "Traceback" not in output
    assert spool_files(env) == []
    assert not out.exists() or list(out.iterdir()) == [], "no result and no half-written file"


def test_ctrl_c_prints_what_finished(env: dict[str, str], inputs: Path, ten_minutes: Path) -> None:
    out = inputs.parent / "out"
    # The short file first; Ctrl-C once the lecture's bar is up, so one file has finished and one has not.
    code, output = _on_a_terminal(
        env, ["in/a.wav", str(ten_minutes), "-o", "out"], inputs.parent, interrupt_on=b"lecture.wav"
    )
    assert code == 130, output
    assert "gigaam-api: interrupted" in output
    assert re.search(
        r"1 of 2 files: 1 transcribed; 0:0\d of audio in \d+:\d\d \([\d.]+× realtime\)", output
    ), output
    assert sorted(p.name for p in out.iterdir()) == ["a.txt"]
    assert spool_files(env) == []


def test_keyword_and_server_vad_flags_are_the_apis_options(
    env: dict[str, str], inputs: Path, server: LiveServer
) -> None:
    from tests.fixtures.phrases import PAUSES as SHORT_PAUSES
    from tests.fixtures.phrases import PHRASES, near_miss

    greedy = api_body(server, inputs / "a.wav", "text")
    keyword = near_miss(next(w for w in greedy.lower().split() if len(w) >= 4 and w.isalpha()))
    steered = transcribe(env, "in/a.wav", "--keyword", keyword, "--keyword-boost", "10", cwd=inputs.parent)
    assert steered.returncode == 0, steered.stderr
    with (inputs / "a.wav").open("rb") as f:
        fields = {"keywords[]": keyword, "keyword_boost": "10", "response_format": "text"}
        expected = httpx.post(
            f"{server.url}/v1/audio/transcriptions", data=fields, files={"file": f}, timeout=120
        )
    assert steered.stdout == expected.text != greedy
    assert keyword in steered.stdout.lower().split()

    audio, _ = long_speech(PHRASES, [0.3, *SHORT_PAUSES, 0.3])
    write_wav(inputs / "pauses.wav", audio)
    cut = transcribe(
        env, "in/pauses.wav", "-f", "verbose_json", "--silence-duration-ms", "200", cwd=inputs.parent
    )
    assert cut.returncode == 0, cut.stderr
    assert len(json.loads(cut.stdout)["segments"]) == len(PHRASES)

    bad = transcribe(env, "in/a.wav", "--keyword", "Sberbank", "--keyword-boost", "11", cwd=inputs.parent)
    assert bad.returncode == 2 and "keyword_boost" in bad.stderr and bad.stdout == ""
    latin = transcribe(env, "in/a.wav", "--keyword", "Sberbank", cwd=inputs.parent)
    assert latin.returncode == 2 and "'Sberbank'" in latin.stderr


def test_language_and_logprobs_flags_are_the_apis_options(
    env: dict[str, str], inputs: Path, server: LiveServer
) -> None:
    args = ("in/a.wav", "-f", "json", "--logprobs", "--language", "ru", "--languages", "ru")
    scored = transcribe(env, *args, cwd=inputs.parent)
    assert scored.returncode == 0, scored.stderr
    with (inputs / "a.wav").open("rb") as f:
        fields = {"response_format": "json", "include[]": "logprobs", "language": "ru", "languages[]": "ru"}
        expected = httpx.post(
            f"{server.url}/v1/audio/transcriptions", data=fields, files={"file": f}, timeout=120
        )
    assert expected.status_code == 200, expected.text
    body = json.loads(scored.stdout)
    assert body == expected.json()
    assert body["logprobs"] and "".join(lp["token"] for lp in body["logprobs"]) == body["text"]

    as_text = transcribe(env, "in/a.wav", "--logprobs", cwd=inputs.parent)
    assert as_text.returncode == 2 and as_text.stdout == ""
    assert "--logprobs needs -f json" in as_text.stderr and "Traceback" not in as_text.stderr
    english = transcribe(env, "in/a.wav", "--language", "en", cwd=inputs.parent)
    assert english.returncode == 2 and "Unsupported language 'en'" in english.stderr and english.stdout == ""
    several = transcribe(env, "in/a.wav", "--languages", "ru", "--languages", "en", cwd=inputs.parent)
    assert several.returncode == 2 and "Unsupported languages ru, en" in several.stderr
    nonsense = transcribe(env, "in/a.wav", "--languages", "ru", "--languages", "zz-top", cwd=inputs.parent)
    assert nonsense.returncode == 2 and "Invalid languages item 'zz-top'" in nonsense.stderr
