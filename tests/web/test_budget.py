"""ferapp.web.budget: decodes hold bytes of one budget, first come first served."""

import threading
import time

import pytest

from ferapp.web.budget import MemoryBudget, TooLarge


def test_costs_add_up_to_the_total_and_release_gives_them_back():
    budget = MemoryBudget(100)
    assert budget.acquire(60, 0) and budget.acquire(40, 0)
    assert not budget.acquire(1, 0.05)  # full: the wait runs out
    budget.release(40)
    assert budget.acquire(30, 0) and budget.used == 90


def test_a_cost_above_the_whole_budget_is_refused_at_once():
    with pytest.raises(TooLarge):
        MemoryBudget(100).acquire(101, 10)


def test_a_waiter_is_admitted_when_enough_is_released():
    budget = MemoryBudget(100)
    budget.acquire(80, 0)
    admitted = threading.Event()
    waiter = threading.Thread(target=lambda: budget.acquire(50, 600) and admitted.set())
    waiter.start()
    while budget.waiting() < 1:  # it waits for the release ...
        time.sleep(0.01)
    assert not admitted.is_set()
    budget.release(80)
    assert admitted.wait(30)  # ... and is woken by it, long before its 600 s timeout


def test_first_come_first_served_a_big_cost_is_not_overtaken():
    """A small cost that would fit does not pass a big one waiting before it."""
    budget = MemoryBudget(100)
    budget.acquire(60, 0)
    order = []

    def want(cost, name):
        if budget.acquire(cost, 5):
            order.append(name)

    big = threading.Thread(target=want, args=(90, "big"))
    big.start()
    while budget.waiting() < 1:
        time.sleep(0.01)
    small = threading.Thread(target=want, args=(20, "small"))
    small.start()
    time.sleep(0.2)
    assert order == []  # 20 would fit beside 60, but the big one came first
    budget.release(60)
    big.join(5)
    assert order == ["big"]
    budget.release(90)
    small.join(5)
    assert order == ["big", "small"] and budget.used == 20


def test_hold_gives_back_on_error_and_a_timed_out_waiter_leaves_the_queue():
    budget = MemoryBudget(100)
    with pytest.raises(RuntimeError), budget.hold(70, 0) as admitted:
        assert admitted
        raise RuntimeError
    assert budget.used == 0
    budget.acquire(100, 0)
    with budget.hold(50, 0.05) as admitted:
        assert not admitted
    assert budget.waiting() == 0 and budget.used == 100
    budget.release(100)
    assert budget.acquire(100, 0)  # nobody stale ahead in the queue
