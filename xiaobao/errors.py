"""One exception family for xiaobao.

Library code raises these; the CLI turns a :class:`UserError` into one line on stderr and
exit code 2, with no traceback. Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations


class XiaobaoError(Exception):
    """Base of every error xiaobao raises on purpose."""


class UserError(XiaobaoError):
    """A mistake the user can fix: bad argument, unknown id, wrong file. Exit code 2."""

    exit_code = 2


class InputError(UserError):
    """A bad input file or row; the message names the file (and line) and what is wrong."""

    def __init__(self, path, message: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class NotFoundError(UserError):
    """An id or name that does not exist in the workspace."""


class DuplicateSampleError(UserError):
    """The same source (sha256) is already enrolled in this space."""


class SpaceError(UserError):
    """Unknown space, or a vector whose dimension does not fit the space."""


class ModelUnavailableError(UserError):
    """A backend's weights are not where the configuration says; the message says where to put them."""
