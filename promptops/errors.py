"""The error conditions promptops reports, each with its documented exit code.

Domain code raises these; only promptops.cli turns them into a message and an exit code.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_PROBLEMS = 1  # validation errors, gate failures, registry refusals: the user's input or state
EXIT_USAGE = 64  # bad command line (sysexits EX_USAGE): never 2, which `diff` uses for "changes pending"
EXIT_PENDING = 2  # `diff` only: changes pending, like `terraform plan -detailed-exitcode`
EXIT_INTERNAL = 3  # a bug in promptops: short message, details in a crash log
EXIT_INTERRUPTED = 130
EXIT_OUTPUT_CLOSED = 141  # the reader of stdout went away (`| head`): 128 + SIGPIPE, as git and the shell say


class PromptopsError(Exception):
    """A condition the user can act on; its message says what to do."""

    exit_code = EXIT_PROBLEMS


class ProjectNotFound(PromptopsError):
    """No promptops project (pyproject.toml with [tool.promptops], promptops.yaml or prompts/) was found."""


class ConfigError(PromptopsError):
    """The project configuration is invalid."""


class PromptNotFound(PromptopsError):
    """A prompt name is not in the project or the registry."""


class ValidationFailed(PromptopsError):
    """The prompt repository has errors; the diagnostics say where."""


class BadVariable(PromptopsError):
    """A value given on the command line names no variable of the prompt, or is not of the right shape."""

    exit_code = EXIT_USAGE


class RenderError(PromptopsError):
    """A prompt could not be rendered."""


class RegistryError(PromptopsError):
    """The registry refused or failed a request."""


class RegistryAuthError(RegistryError):
    """The registry refused the credentials (401/403): a configuration error, not an outage."""


class LabelNotFound(RegistryError):
    """A label (e.g. production) is not on any version of a prompt."""


class ConcurrentChange(RegistryError):
    """Another run changed the registry between our read and our write."""


class ModelError(PromptopsError):
    """A model call failed; `retriable` says whether trying again can help.

    `rate_limited` marks an HTTP 429 (the key is over its limit, not the model broken) and `retry_after_s` is the
    wait the server asked for, if it named one: the runner waits that long and lowers its concurrency.
    """

    def __init__(
        self, message: str, *, retriable: bool = False, rate_limited: bool = False, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.retriable = retriable
        self.rate_limited = rate_limited
        self.retry_after_s = retry_after_s


class ExperimentError(PromptopsError):
    """An experiment could not run (not a failed item: those are results)."""


class ShardError(PromptopsError):
    """Results files do not make one whole run (a shard missing, twice, or of another run), or one is unreadable."""


class Interrupted(PromptopsError):
    """The user stopped a run (Ctrl-C); nothing was decided on a partial experiment."""

    exit_code = EXIT_INTERRUPTED


class GateFailed(PromptopsError):
    """A candidate did not beat its baseline."""
