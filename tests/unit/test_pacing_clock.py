"""The senders' pacing on another clock (bot/delivery/outbox.py: Clock): what the tests of
thousands of paced sends run on (tests/support/clock.py)."""
from __future__ import annotations

from support.clock import FastForward

from bot.delivery.outbox import TokenBucket


async def test_a_bucket_on_virtual_time_paces_without_waiting_for_it():
    clock = FastForward()
    bucket = TokenBucket(25, clock=clock.monotonic, sleep=clock.sleep)
    start = clock.monotonic()
    stamps = []
    for _ in range(101):
        await bucket.take()
        stamps.append(bucket.stamp)    # when this token was taken, on the bucket's clock
    # 100 intervals of at least 1/25 s: four seconds of this clock, skipped, not waited for
    assert all(b - a >= 1 / 25 - 1e-9 for a, b in zip(stamps, stamps[1:], strict=False))
    assert stamps[-1] - start >= 100 / 25 - 1e-6 and clock.skipped > 0


async def test_the_virtual_clock_never_runs_slower_than_real_time():
    import time
    clock = FastForward()
    real = time.monotonic()            # read first: the virtual time read after is later
    assert clock.monotonic() >= real
    await clock.sleep(2.0)
    real = time.monotonic()
    assert clock.monotonic() >= real + 2.0
