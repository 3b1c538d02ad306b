"""The senders' pacing (bot/delivery/outbox.py: Pacer) on a clock of the test's own, where
only sleeping moves time (so a busy machine cannot shift what is measured); and the
fast-forward clock (tests/support/clock.py) the tests of thousands of paced sends run on."""
from __future__ import annotations

import asyncio
import random

from support.clock import FastForward

from bot.delivery.outbox import Pacer


class Manual:
    """Time that passes only by sleeping on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.skipped = 0.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        self.skipped += max(0.0, seconds)
        await asyncio.sleep(0)


async def paced_sends(pacer: Pacer, clock: Manual, n: int,
                      took: list[float]) -> list[tuple[float, float]]:
    """n announcements, each request taking the next of `took` seconds (cycled); returns
    (start, end) of each."""
    sends = []
    for i in range(n):
        await pacer.take()
        start = clock.monotonic()
        await clock.sleep(took[i % len(took)])
        pacer.finished()
        sends.append((start, clock.monotonic()))
    return sends


def most_in_a_second(times: list[float]) -> int:
    return max(sum(1 for t in times if a <= t < a + 1.0) for a in times)


async def test_requests_that_take_time_do_not_slow_the_pace():
    # A request of 20 ms or more at 30/s: waiting for each answer before the next 33 ms
    # interval begins would lose most of the rate; absolute times keep it.
    clock = Manual()
    pacer = Pacer(30, clock=clock.monotonic, sleep=clock.sleep)
    rng = random.Random(7)
    took = [rng.uniform(0.002, 0.03) for _ in range(97)]
    sends = await paced_sends(pacer, clock, 601, took)
    starts = [s for s, _ in sends]
    rate = 600 / (starts[-1] - starts[0])
    assert 0.98 * 30 <= rate <= 30.0
    # ...and the platform, which counts a send somewhere between its start and its answer,
    # never sees more than 30 in one second: not even when every send arrives as late as
    # possible after a fast one (a send starts only a second after the 30th last answer).
    assert all(sends[i + 30][0] >= sends[i][1] + 1.0 - 1e-9 for i in range(len(sends) - 30))
    assert most_in_a_second(starts) <= 30 and clock.skipped > 0


async def test_a_late_start_is_caught_up_but_never_beyond_the_limit():
    clock = Manual()
    pacer = Pacer(20, clock=clock.monotonic, sleep=clock.sleep)
    before = await paced_sends(pacer, clock, 20, [0.001])
    await clock.sleep(0.2)        # e.g. a database round between two batches: 4 slots late
    after = await paced_sends(pacer, clock, 80, [0.001])
    starts = [s for s, _ in before + after]
    assert after[3][0] - after[0][0] < 0.05       # the four missed slots go at once
    assert starts[-1] - starts[0] < 99 / 20 + 0.05   # 100 sends in the time of 100 slots
    assert most_in_a_second(starts) <= 20
    await clock.sleep(2.0)        # idle: the schedule starts anew, without a burst
    again = [s for s, _ in await paced_sends(pacer, clock, 5, [0.001])]
    assert all(b - a >= 1 / 20 - 1e-6 for a, b in zip(again, again[1:], strict=False))


async def test_replies_go_at_once_and_announcements_make_room_for_them():
    clock = Manual()
    pacer = Pacer(10, clock=clock.monotonic, sleep=clock.sleep)
    start = clock.monotonic()
    await pacer.take()
    for _ in range(5):            # five replies: never wait
        pacer.debit()
        pacer.finished()
    assert clock.monotonic() == start
    await pacer.take()            # the next announcement waits for their share of the second
    assert clock.monotonic() - start >= 6 / 10 - 1e-9


async def test_the_virtual_clock_never_runs_slower_than_real_time():
    import time
    clock = FastForward()
    real = time.monotonic()            # read first: the virtual time read after is later
    assert clock.monotonic() >= real
    await clock.sleep(2.0)
    real = time.monotonic()
    assert clock.monotonic() >= real + 2.0
