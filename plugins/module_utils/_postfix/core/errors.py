# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One exception hierarchy for the collection (private to the collection).

Pure code raises these; only the module layer turns them into ``fail_json``.
"""

from __future__ import annotations


class PostfixError(Exception):
    """Base class: the message is what the user reads."""

    def __init__(self, message, **details):
        super().__init__(message)
        self.details = details


class InputError(PostfixError):
    """A module argument is wrong; raised before anything on disk is touched."""

    def __init__(self, parameter, problem, **details):
        super().__init__("%s: %s" % (parameter, problem), parameter=parameter, **details)


class ConfigError(PostfixError):
    """The configuration directory or a file in it is missing or unreadable."""


class CommandError(PostfixError):
    """A Postfix command is missing or failed."""


class ValidationError(PostfixError):
    """Postfix read the new text back and disagreed with what we meant to write."""
