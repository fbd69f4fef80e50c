"""Helpers shared by the test suites (database comparison oracles)."""
