"""A loopback test double of the Langfuse 4.16 server, driven by the real langfuse SDK in tests.

Entry points: `tests.langfuse_double.server.LangfuseDouble` and the `langfuse_double` pytest fixture
in `tests.langfuse_double.fixtures`. Kept import-free so `derive_schemas` runs without the server.
"""
