"""ferapp.vision.stages: the first stage of the next items overlaps the caller's work,
in order, bounded, with errors and closing handled."""

import threading
import time

import pytest

from ferapp.vision.stages import overlapped


def stage_threads():
    return [t for t in threading.enumerate() if t.name == "stage" and t.is_alive()]


def test_every_item_in_order_and_the_two_stages_overlap():
    ran = []

    def first(i):
        ran.append(("first", i))
        time.sleep(0.01)
        return i * i

    out = []
    for item, result in overlapped(range(30), first):
        time.sleep(0.01)
        ran.append(("second done", item))
        out.append((item, result))
    assert out == [(i, i * i) for i in range(30)]
    # the first stage of item i+1 ran while the second stage of item i was at work
    overlaps = sum(ran.index(("first", i + 1)) < ran.index(("second done", i))
                   for i in range(29))
    assert overlaps >= 20
    assert not stage_threads()


def test_the_first_stage_stays_at_most_depth_plus_one_ahead():
    done = []
    steps = overlapped(range(100), lambda i: done.append(i) or i, depth=2)
    next(steps)
    time.sleep(0.2)
    assert len(done) <= 1 + 2 + 1  # the one taken, two waiting, one blocked on the put
    steps.close()
    assert not stage_threads()


@pytest.mark.parametrize("where", ["first", "items"])
def test_an_error_in_the_background_is_raised_at_its_place(where):
    def items():
        for i in range(10):
            if where == "items" and i == 4:
                raise OSError("read failed")
            yield i

    def first(i):
        if where == "first" and i == 4:
            raise ValueError("bad frame")
        return i

    got = []
    with pytest.raises((OSError, ValueError)):
        for item, _ in overlapped(items(), first):
            got.append(item)
    assert got == [0, 1, 2, 3]
    assert not stage_threads()


def test_closing_early_stops_the_thread_and_closes_the_items_there():
    closed = []

    def items():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.append(threading.current_thread().name)

    steps = overlapped(items(), lambda i: i)
    for item, _ in steps:
        if item == 5:
            break
    steps.close()
    assert closed == ["stage"]  # released in the reading thread, before close returned
    assert not stage_threads()


def test_an_error_in_the_caller_stops_the_thread():
    with pytest.raises(RuntimeError):
        for item, _ in overlapped(iter(range(1000)), lambda i: i):
            if item == 3:
                raise RuntimeError("draw failed")
    assert not stage_threads()


def test_a_behind_caller_skips_skippable_items_in_order_and_keeps_the_rest():
    def items():
        for i in range(300):
            time.sleep(0.001)  # a live source at its own pace
            yield i

    located = []
    got = []
    for item, _ in overlapped(items(), located.append, skippable=lambda i: i % 50 != 0):
        got.append(item)
        time.sleep(0.01)  # the caller is ten times slower than the source
    assert got == sorted(got) and len(got) < 150  # skipped, never reordered
    assert {0, 50, 100, 150, 200, 250} <= set(got)  # the others are never skipped
    assert located == got  # skipped before their first stage: no work wasted on them
