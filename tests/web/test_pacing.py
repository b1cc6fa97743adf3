"""ferapp.web.pacing: one answer per client and interval; the rest wait or get 429."""

from __future__ import annotations

import pytest

from ferapp.web.pacing import Busy, Pacer


def test_a_fast_poller_waits_its_turn_and_others_do_not():
    now, slept = [0.0], []

    def sleep(s):
        slept.append(round(s, 3))
        now[0] += s

    pacer = Pacer(interval=0.05, max_wait=1.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        pacer.wait_turn("10.0.0.1")
    assert slept == [0.05] * 4  # the first at once, each next one interval later
    pacer.wait_turn("10.0.0.2")  # another client is not held up
    assert len(slept) == 4


def test_too_far_ahead_is_refused_and_waiting_is_bounded():
    now = [0.0]
    pacer = Pacer(interval=0.5, max_wait=1.0, max_waiting=8, clock=lambda: now[0],
                  sleep=lambda s: None)
    pacer.wait_turn("a")  # now
    pacer.wait_turn("a")  # waits 0.5
    pacer.wait_turn("a")  # waits 1.0
    with pytest.raises(Busy) as exc:  # would wait 1.5 s
        pacer.wait_turn("a")
    assert exc.value.retry_after >= 1 and "too fast" in str(exc.value)
    crowded = Pacer(interval=0.5, max_waiting=0, clock=lambda: now[0], sleep=lambda s: None)
    crowded.wait_turn("b")
    with pytest.raises(Busy):  # nobody may wait
        crowded.wait_turn("b")


def test_clients_are_bounded():
    pacer = Pacer(max_clients=3, sleep=lambda s: None)
    for k in range(10):
        pacer.wait_turn(f"10.0.0.{k}")
    assert len(pacer._next) == 3
