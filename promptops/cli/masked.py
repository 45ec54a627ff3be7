"""stdout and stderr with credentials masked: every line promptops (or code it runs) prints goes through here.

The CLI's main wraps both streams for the whole command, so whatever prints (a verdict, an error message, a
progress line, a custom task's print()) has the known secrets masked by value and credentials by pattern
(sensitive.redact_secrets) before it reaches a terminal or a CI log. A secret written in pieces by separate
write() calls is not recognised; promptops itself writes whole lines.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from promptops.sensitive import redact_secrets


class MaskedStream(io.TextIOBase):
    """A text stream that masks what it is given before writing it to the stream it wraps."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream

    def write(self, text: str) -> int:
        """Write `text` with credentials masked; return the length given, as a text stream does."""
        if not isinstance(text, str):  # Click probes with b"" to tell text from binary streams
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._stream.write(redact_secrets(text))
        return len(text)

    def flush(self) -> None:
        """Flush the wrapped stream."""
        self._stream.flush()

    def isatty(self) -> bool:
        """Tell whether the wrapped stream is a terminal (progress bars draw only on one)."""
        return self._stream.isatty()

    def fileno(self) -> int:
        """Return the wrapped stream's descriptor."""
        return self._stream.fileno()

    def writable(self) -> bool:
        """Return True."""
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        """Return the wrapped stream's encoding (Click checks it before using a stream as it is)."""
        return getattr(self._stream, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        """Return the wrapped stream's error handler."""
        return getattr(self._stream, "errors", None) or "strict"


@contextmanager
def masked_output() -> Iterator[None]:
    """Mask stdout and stderr for the duration (the originals come back afterwards, even on SystemExit)."""
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = MaskedStream(out), MaskedStream(err)  # type: ignore[assignment]
    try:
        yield
    finally:
        for masked in (sys.stdout, sys.stderr):
            if isinstance(masked, MaskedStream):
                masked.flush()
        sys.stdout, sys.stderr = out, err
