"""Shared fakes, seeders and helpers of the tests (never a test module)."""
