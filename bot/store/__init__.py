"""Persistence: sqlmodel tables, the async engine, and query functions taking a session."""
