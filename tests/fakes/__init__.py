"""Test doubles shared across test packages (servers the tests start and script)."""
