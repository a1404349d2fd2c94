from __future__ import annotations

import pytest

from gigaam_api.api.admission import Admission, QueueFullError, TooManyUploadsError, UploadSlots


def test_check_refuses_a_full_queue_without_taking_a_slot() -> None:
    admission = Admission(1)
    admission.check()
    assert admission.count == 0
    admission.enter()
    with pytest.raises(QueueFullError):
        admission.check()
    admission.leave()
    admission.check()


def test_upload_slots_are_bounded_and_count_stored_bytes() -> None:
    slots = UploadSlots(2)
    with slots.slot() as first, slots.slot() as second:
        first.add(100)
        second.add(20)
        assert (slots.count, slots.stored_bytes) == (2, 120)
        with pytest.raises(TooManyUploadsError), slots.slot():
            pass
    assert (slots.count, slots.stored_bytes) == (0, 0)


def test_an_upload_slot_is_freed_when_the_upload_fails() -> None:
    slots = UploadSlots(1)
    with pytest.raises(RuntimeError), slots.slot():
        raise RuntimeError
    with slots.slot():
        assert slots.count == 1
