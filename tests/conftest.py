"""Shared fixtures: an isolated promptops home, real git repositories, and the Langfuse test double."""

pytest_plugins = ["tests.langfuse_double.fixtures"]
