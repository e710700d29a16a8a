# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Postfix version numbers (private). Pure."""

from __future__ import annotations

import re


def parse_version(text):
    """'3.7.11' -> (3, 7, 11)."""
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])
