"""Basic/Bearer authentication with the per-route error shapes of the real server (REFERENCE §1.1, §1.5)."""

from __future__ import annotations

import base64
import binascii
import enum
from dataclasses import dataclass

from tests.langfuse_double.errors import ApiFailure

NO_HEADER = "No authorization header"
BAD_CREDENTIALS = "Invalid credentials. Confirm that you've configured the correct host."
BAD_HEADER = "Invalid authorization header"


class AuthStyle(enum.Enum):
    """How a route authenticates and how it words failures."""

    NONE = "none"  # health
    PROMPT = "prompt"  # prompt routes: errors carry "error": <class name>
    PROJECT = "project"  # createAuthedProjectAPIRoute routes: {"message"} only
    SCORES = "scores"  # like PROJECT, but Bearer <public key> is also accepted


@dataclass(frozen=True)
class Keys:
    """The one project's API key pair."""

    public_key: str
    secret_key: str


def _fail(style: AuthStyle, status: int, message: str, error: str) -> ApiFailure:
    body = {"message": message, "error": error} if style is AuthStyle.PROMPT else {"message": message}
    return ApiFailure(status, body)


def _access(header: str | None, keys: Keys) -> str | None:
    """Return "project" or "scores" access, or None for invalid credentials; raise on a bad header."""
    if not header:
        raise LookupError(NO_HEADER)
    scheme, _, token = header.partition(" ")
    if scheme == "Basic":
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        # The server looks the key up by its secret; a mismatching public key is only logged.
        _, _, secret = decoded.partition(":")
        return "project" if secret == keys.secret_key else None
    if scheme == "Bearer":
        return "scores" if token.strip() == keys.public_key else None
    raise LookupError(BAD_HEADER)


def authorize(style: AuthStyle, header: str | None, method: str, keys: Keys) -> None:
    """Raise the server's 401/403 unless the header grants access to a route of this style."""
    if style is AuthStyle.NONE:
        return
    try:
        access = _access(header, keys)
    except LookupError as problem:
        raise _fail(style, 401, str(problem), "UnauthorizedError") from problem
    if access is None:
        raise _fail(style, 401, BAD_CREDENTIALS, "UnauthorizedError")
    if access == "scores" and style is not AuthStyle.SCORES:
        if style is AuthStyle.PROMPT:
            message = f"Access denied - need to use basic auth with secret key to {method} prompts"
        else:
            message = "Access denied - insufficient permissions for this endpoint"
        raise _fail(style, 403, message, "ForbiddenError")
