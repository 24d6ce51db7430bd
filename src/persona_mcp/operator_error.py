"""Mistakes an operator can make, told in one line with the fix.

A platform engineer who mistypes a setting, points at a database that is not there or starts a second
server on a busy port should read what is wrong and what to do, not a traceback. Code that detects such a
mistake raises `OperatorError`; the CLI prints `OperatorError.line()` and exits with status 2
(`persona-mcp --debug ...` shows the traceback). This module imports nothing, so `config` may use it.
"""

from __future__ import annotations

#: Exit status of every operator mistake (the same as a command-line usage error).
EXIT_OPERATOR_ERROR = 2


class OperatorError(Exception):
    """A configuration or usage mistake: `message` names the setting or file, `hint` says the fix.

    Neither may carry a secret value: both are printed as they are.
    """

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def line(self) -> str:
        """The single line printed on stderr."""
        text = f"error: {self.message} (hint: {self.hint})"
        return " ".join(text.split())  # one line, whatever the parts held


class ConfigError(OperatorError):
    """The configuration (environment, TOML file) is wrong: nothing can work until it is fixed."""
