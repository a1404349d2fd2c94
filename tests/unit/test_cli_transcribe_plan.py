"""Where `gigaam-api transcribe` reads and writes: inputs, globs, formats and destinations."""

from __future__ import annotations

from pathlib import Path

import pytest

from gigaam_api.cli_transcribe.plan import Source, Task, UsageError, choose_format, expand, plan


def test_globs_expand_sorted_and_problems_are_kept_per_argument(tmp_path: Path) -> None:
    for name in ("b.wav", "a.wav", "c.mp3"):
        (tmp_path / name).write_bytes(b"")
    sources = expand(
        [str(tmp_path / "*.wav"), str(tmp_path / "*.flac"), str(tmp_path / "x.ogg"), str(tmp_path)]
    )
    assert [s.path.name for s in sources] == ["a.wav", "b.wav", "*.flac", "x.ogg", tmp_path.name]
    assert [s.problem for s in sources] == [
        None,
        None,
        "no file matches this pattern",
        "no such file",
        "is a directory",
    ]


def test_a_file_whose_name_looks_like_a_pattern_is_taken_as_is(tmp_path: Path) -> None:
    odd = tmp_path / "take[1].wav"
    odd.write_bytes(b"")
    assert expand([str(odd)]) == [Source(odd)]


@pytest.mark.parametrize(
    ("flag", "output", "expected"),
    [
        (None, None, "text"),
        ("srt", Path("x.vtt"), "srt"),
        (None, Path("x.VTT"), "vtt"),
        (None, Path("x.json"), "json"),
        (None, Path("results"), "text"),
    ],
)
def test_format_from_flag_then_extension_then_text(
    flag: str | None, output: Path | None, expected: str
) -> None:
    assert choose_format(flag, output) == expected  # type: ignore[arg-type]


def test_destinations(tmp_path: Path) -> None:
    one = [Source(tmp_path / "in" / "talk.mp3")]
    two = [*one, Source(tmp_path / "in" / "call.wav")]
    assert plan(one, "text", None) == [Task(one[0], None)]
    assert plan(one, "srt", tmp_path / "x.srt") == [Task(one[0], tmp_path / "x.srt")]
    assert [t.destination for t in plan(two, "vtt", None)] == [
        tmp_path / "in" / "talk.vtt",
        tmp_path / "in" / "call.vtt",
    ]
    assert [t.destination for t in plan(two, "verbose_json", tmp_path / "out")] == [
        tmp_path / "out" / "talk.json",
        tmp_path / "out" / "call.json",
    ]


def test_plans_that_would_lose_results_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="names one file"):
        plan([Source(tmp_path / "a.wav"), Source(tmp_path / "b.wav")], "srt", tmp_path / "x.srt")
    with pytest.raises(UsageError, match="would both write"):
        plan([Source(tmp_path / "a" / "t.wav"), Source(tmp_path / "b" / "t.mp3")], "srt", tmp_path / "out")
    with pytest.raises(UsageError, match="overwrite the input"):
        plan([Source(tmp_path / "notes.txt"), Source(tmp_path / "b.wav")], "text", None)
