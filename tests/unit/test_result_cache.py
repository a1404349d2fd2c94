"""The result cache on a real SQLite file: round trip, LRU and age limits, restarts, concurrent writers."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from gigaam_api.dedup import codec
from gigaam_api.dedup.cache import ResultCache
from gigaam_api.speakers.turns import Turn
from gigaam_api.transcript import Segment, Token, Word

HOUR = 3600.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def cache(
    tmp_path: Path, clock: Clock, *, max_bytes: int = 10_000, max_age: float = 24 * HOUR
) -> ResultCache:
    return ResultCache(tmp_path / "cache", max_bytes=max_bytes, max_age_seconds=max_age, clock=clock)


def test_a_stored_entry_comes_back_and_survives_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    cache(tmp_path, clock).put("k", b"transcript")
    assert cache(tmp_path, clock).get("k") == b"transcript"  # a new instance: the server restarted
    assert cache(tmp_path, clock).get("other") is None


def test_least_recently_used_entries_go_first_when_over_the_size_limit(tmp_path: Path) -> None:
    clock = Clock()
    results = cache(tmp_path, clock, max_bytes=300)
    for key in "abc":
        clock.now += 1
        results.put(key, key.encode() * 100)
    clock.now += 1
    assert results.get("a") is not None  # "a" is now the most recently used
    clock.now += 1
    results.put("d", b"d" * 100)
    assert results.keys() == {"a", "c", "d"}
    assert results.stored_bytes() <= 300


def test_entries_older_than_the_age_limit_are_not_served_and_are_removed(tmp_path: Path) -> None:
    clock = Clock()
    results = cache(tmp_path, clock, max_age=HOUR)
    results.put("old", b"x")
    clock.now += HOUR / 2
    results.put("young", b"y")
    assert results.get("old") == b"x"  # being used does not make it younger
    clock.now += HOUR / 2 + 1
    assert results.get("old") is None
    assert results.keys() == {"young"}
    clock.now += HOUR
    results.put("new", b"z")  # every write also sweeps what has expired
    assert results.keys() == {"new"}


def test_an_entry_larger_than_the_whole_cache_is_not_stored(tmp_path: Path) -> None:
    results = cache(tmp_path, Clock(), max_bytes=10)
    results.put("big", b"x" * 11)
    assert results.keys() == set()


def test_concurrent_writers_and_readers_in_threads_and_instances(tmp_path: Path) -> None:
    clock = Clock()
    instances = [cache(tmp_path, clock, max_bytes=1_000_000) for _ in range(4)]
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(25):
                key = f"{n}-{i}"
                instances[n].put(key, key.encode() * 10)
                assert instances[(n + 1) % 4].get(key) == key.encode() * 10
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(instances[0].keys()) == 100


def test_codec_round_trips_every_field_exactly() -> None:
    segment = Segment(
        id=3,
        start=1.25,
        end=4.0,
        text="привет мир",
        tokens=(5, 7),
        avg_logprob=-0.123456789,
        compression_ratio=1.1,
        no_speech_prob=0.0,
        words=(Word("привет", 1.25, 2.0), Word("мир", 2.1, 4.0)),
        logprobs=(Token(5, "▁привет", 1.25, -0.1), Token(7, "▁мир", 2.1, -0.146913578)),
    )
    result = codec.Result((segment,), 4.5, "ru")
    assert codec.decode(codec.encode(result)) == result


def test_a_diarized_result_keeps_its_speakers_and_turns() -> None:
    segment = Segment(id=0, start=0.0, end=1.0, text="да", speaker="Olga")
    result = codec.Result((segment,), 1.0, "ru", turns=(Turn(0.0, 0.6, "Olga"), Turn(0.7, 1.0, "A")))
    assert codec.decode(codec.encode(result)) == result


def test_bytes_that_are_not_an_entry_are_reported_as_corrupt() -> None:
    with pytest.raises(codec.CorruptEntryError):
        codec.decode(b"not zlib")
