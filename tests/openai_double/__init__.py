"""A loopback test double of the OpenAI chat-completions API, driven by the real `openai` SDK in tests.

Entry points: `tests.openai_double.server.OpenAIDouble`, the `openai_double` pytest fixture in
`tests.openai_double.fixtures`, and `python -m tests.openai_double` (a double in its own process, for bench/).
"""
