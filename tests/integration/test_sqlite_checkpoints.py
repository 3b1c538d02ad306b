"""SQLite keeps recent writes in its write-ahead log and copies them into the database file
from time to time (a checkpoint), syncing the file to disk. By default the commit that fills
the log to 1,000 pages does that itself, while every other write, and so every reply, waits
behind it: tens to hundreds of milliseconds on the project's machine (issue 16). A running Loa
copies the log back in the background instead."""
from __future__ import annotations

import pytest
from support.env import start_server
from support.waiting import wait_for

from bot.app import LOA, build_app

MB = 1_000_000


@pytest.mark.sqlite_only
async def test_a_commit_that_fills_the_log_leaves_the_copying_to_the_background(settings):
    app = build_app(settings)
    runner, _ = await start_server(app, 0)
    try:
        db = app[LOA].runtime.db
        path = settings.sqlite_path
        before = path.stat().st_size
        async with db.begin() as conn:   # 8 MB, some 2,000 pages: twice SQLite's default limit
            await conn.exec_driver_sql("CREATE TABLE ballast (x BLOB)")
            for _ in range(80):
                await conn.exec_driver_sql("INSERT INTO ballast VALUES (randomblob(100000))")
        assert path.stat().st_size < before + MB, "the commit copied the log itself"
        await wait_for(lambda: path.stat().st_size > before + 8 * MB, timeout=30)
    finally:
        await runner.cleanup()
