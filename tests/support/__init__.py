"""Shared test support: fixtures and helpers used by several test modules."""
