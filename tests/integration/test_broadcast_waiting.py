"""What waits for an approver ("Chờ tôi duyệt"): one question to the audit log for every
waiting announcement, on an index of the audit log's target (migration 0017); an approver who
changed an announcement last never sees it as theirs to approve."""
from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy import event, inspect
from support.officers import make_officer

from bot.features.broadcasts import workflow
from bot.features.broadcasts.service import BROADCAST
from bot.features.officers import service as officers
from bot.features.officers.models import AuditEntry
from bot.store.db import Database, make_engine
from bot.store.models import utcnow

UNIT = "xa-24175"


async def test_waiting_asks_the_audit_log_once_and_skips_what_i_changed_last(settings):
    author, _ = await make_officer(settings, UNIT, "editor", "Chị Soạn")
    approver, _ = await make_officer(settings, UNIT, "approver", "Anh Duyệt")
    db = Database(make_engine(settings.database_url))
    try:
        async with db.begin() as conn:
            unit = await officers.unit_by_code(conn, UNIT)

            async def pending(author_id: int, *changes: tuple[int, str]) -> int:
                broadcast_id = (await conn.execute(BROADCAST.insert().values(
                    unit_id=unit.id, author_id=author_id, kind="message", text="Tin",
                    variants="{}", variants_approved="{}", audience="{}",
                    status="pending_approval", created_at=utcnow(), recipients=0)
                    .returning(BROADCAST.c.id))).scalar_one()
                for officer_id, action in changes:
                    await officers.audit(conn, f"officer:{officer_id}", action,
                                         f"broadcast:{broadcast_id}", None, None, unit.id)
                return broadcast_id

            created = await pending(author, (author, "broadcast.create"))
            i_edited_last = await pending(author, (author, "broadcast.create"),
                                          (approver, "broadcast.edit"))
            edited_after_me = await pending(author, (author, "broadcast.create"),
                                            (approver, "broadcast.edit"),
                                            (author, "broadcast.edit"))
            # sending back is no change of the text: the approver's edit is still the last one
            sent_back_after = await pending(author, (author, "broadcast.create"),
                                            (approver, "broadcast.edit"),
                                            (approver, "broadcast.reject"))
            mine = await pending(approver, (approver, "broadcast.create"))
            no_history = await pending(author)
            # the audit log of other announcements is not theirs
            await officers.audit(conn, f"officer:{approver}", "broadcast.edit",
                                 f"broadcast:{created}0", None, None, unit.id)

        me = SimpleNamespace(id=approver, role="approver", unit_id=unit.id, unit_code=UNIT)
        async with db.connect() as conn:
            statements: list[str] = []

            def seen(_conn, _cursor, statement, *_args) -> None:   # noqa: ANN001
                statements.append(statement)

            event.listen(conn.sync_connection, "before_cursor_execute", seen)
            rows = await workflow.waiting_for(None, conn, me)
            event.remove(conn.sync_connection, "before_cursor_execute", seen)
            indexes = await conn.run_sync(lambda c: inspect(c).get_indexes("audit_log"))
            assert await workflow.waiting_for(None, conn, SimpleNamespace(
                id=approver, role="editor", unit_id=unit.id, unit_code=UNIT)) == []
        assert [r.id for r in rows] == [created, edited_after_me, no_history]
        assert i_edited_last not in {r.id for r in rows} and mine not in {r.id for r in rows}
        assert sent_back_after not in {r.id for r in rows}
        assert sum("audit_log" in s for s in statements) == 1 and len(statements) == 2
        assert {"name": "ix_audit_target", "columns": ["target"]} in [
            {"name": i["name"], "columns": i["column_names"]} for i in indexes]
        assert "ix_audit_target" in {i.name for i in AuditEntry.__table__.indexes}

        async with db.connect() as conn:          # nothing waiting: no audit question at all
            statements.clear()
            event.listen(conn.sync_connection, "before_cursor_execute", seen)
            other = SimpleNamespace(id=approver, role="approver", unit_id=unit.id + 1,
                                    unit_code="xa-24133")
            assert await workflow.waiting_for(None, conn, other) == []
            event.remove(conn.sync_connection, "before_cursor_execute", seen)
        assert len(statements) == 1 and "audit_log" not in statements[0]
    finally:
        await db.dispose()
