# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    """Options and attributes shared by the collection's file-editing modules."""

    DOCUMENTATION = r"""
options:
  config_dir:
    description:
      - The Postfix configuration directory, as C(postconf -c) takes it.
      - Point it at another instance's directory to manage a multi-instance setup.
    type: path
    default: /etc/postfix
  backup:
    description:
      - Keep a time-stamped copy of a file before it is changed.
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - Computes the full result and diff, and validates with the real Postfix tools
        against a scratch copy; writes nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: posix
requirements:
  - Postfix (C(postconf)) on the managed host; on Debian and Ubuntu the C(postfix) package.
"""

    # For the read-only modules (postfix_info, tls_probe).
    READ_ONLY = r"""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - The module changes nothing; it runs the same in check mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: posix
"""
