"""Alembic environment: runs migrations through the async engine in its own event loop."""
import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

import bot.models  # noqa: F401  (registers every table)
from sqlmodel import SQLModel

config = context.config
target_metadata = SQLModel.metadata
if config.cmd_opts is not None:
    # `alembic upgrade head` typed by an operator: the database Loa itself uses (BOT_DATABASE_URL
    # or BOT_DATA_DIR), not the example URL in alembic.ini. `python -m bot migrate` sets it.
    from bot.settings import Settings
    from bot.store.db import prepare_sqlite_file
    _url = Settings.from_env().database_url
    prepare_sqlite_file(_url)
    config.set_main_option("sqlalchemy.url", _url.replace("%", "%%"))


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


async def _main() -> None:
    engine = create_async_engine(config.get_main_option("sqlalchemy.url"))
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"),
                      target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_main())
