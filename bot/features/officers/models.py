"""Units, officers, invite codes, admin login sessions, password-login throttles, the audit log."""
from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.store.models import utcnow


class Role(StrEnum):
    VIEWER = "viewer"        # sees reports and progress
    EDITOR = "editor"        # drafts broadcasts, logs offline outreach
    APPROVER = "approver"    # approves someone else's broadcast
    ADMIN = "admin"          # everything in their unit, invites officers
    REVIEWER = "reviewer"    # approves translations of one language


class Unit(SQLModel, table=True):
    """A unit that reports outreach: a department, a commune/ward, a station, a carrier."""

    __table_args__ = (UniqueConstraint("code", name="uq_unit_code"),)
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40)
    name: str = Field(max_length=200)
    kind: str = Field(default="other", max_length=20)   # province, commune, other
    commune_code: str | None = Field(default=None, max_length=8)
    created_at: dt.datetime = Field(default_factory=utcnow)


class Officer(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("channel", "pseudonym", name="uq_officer_contact"),
                      Index("uq_officer_login_name", "login_name", unique=True))
    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id")
    role: str = Field(max_length=16)
    language: str | None = Field(default=None, max_length=16)   # for reviewers
    name: str = Field(max_length=120)
    channel: str = Field(max_length=16)
    pseudonym: str = Field(max_length=64)
    address: str = Field(max_length=128)      # where Loa writes to the officer
    active: bool = True
    created_at: dt.datetime = Field(default_factory=utcnow)
    # Password login at a desk (migration 0008): a login name the officer or operator chose
    # (lower case, unique) and an argon2id hash; both empty for chat-link-only officers.
    login_name: str | None = Field(default=None, max_length=40)
    password_hash: str | None = Field(default=None, max_length=255)
    password_changed_at: dt.datetime | None = None
    # Removal (migration 0014) deactivates: the row stays for the audit log's references.
    removed_at: dt.datetime | None = None
    removed_by: str | None = Field(default=None, max_length=80)


class Invite(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("code_hash", name="uq_invite_code"),)
    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(max_length=64)
    unit_id: int = Field(foreign_key="unit.id")
    role: str = Field(max_length=16)
    language: str | None = Field(default=None, max_length=16)
    created_by: str = Field(max_length=80)
    created_at: dt.datetime = Field(default_factory=utcnow)
    expires_at: dt.datetime
    used_at: dt.datetime | None = None
    used_by: int | None = Field(default=None, foreign_key="officer.id")


class AdminSession(SQLModel, table=True):
    """A browser login of an officer (opened from a one-time link sent in Telegram)."""

    __tablename__ = "admin_session"
    __table_args__ = (UniqueConstraint("token_hash", name="uq_admin_session_token"),)
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64)
    officer_id: int = Field(foreign_key="officer.id")
    csrf: str = Field(max_length=64)
    created_at: dt.datetime = Field(default_factory=utcnow)
    expires_at: dt.datetime
    used: bool = False        # a login link works once; the session cookie then carries it


class LoginThrottle(SQLModel, table=True):
    """Failed password logins per login name typed and per client address (both as keyed
    hashes, never the raw text: people type passwords into the name field). Shared by every
    process through the database, so a lock holds across restarts."""

    __tablename__ = "login_throttle"
    __table_args__ = (Index("ix_login_throttle_window", "window_start"),)
    key: str = Field(primary_key=True, max_length=80)     # "name:<hmac>" or "client:<hmac>"
    failures: int = 0
    window_start: dt.datetime = Field(default_factory=utcnow)
    locked_until: dt.datetime | None = None


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"
    # ix_audit_target (migration 0017): the history of one thing ("broadcast:12"), e.g. who
    # changed an announcement last (features/broadcasts/workflow.py).
    __table_args__ = (Index("ix_audit_at", "at"), Index("ix_audit_target", "target"))
    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=utcnow)
    actor: str = Field(max_length=80)           # "officer:12" or "operator"
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    action: str = Field(max_length=60)
    target: str = Field(max_length=120)
    before: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    after: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
