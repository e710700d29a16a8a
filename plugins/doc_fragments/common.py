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

    # The read-only modules that read one Postfix instance (tls_advisor, tls_posture, postfix_info).
    CONFIG_DIR = r"""
options:
  config_dir:
    description: The Postfix configuration directory, as C(postconf -c) takes it.
    type: path
    default: /etc/postfix
"""

    # The two table modules' options for entries given as a file (src).
    TABLE_SRC = r"""
options:
  remote_src:
    description:
      - V(true) when O(src) is a file already on the managed host, not on the controller.
    type: bool
    default: false
  report:
    description:
      - How many keys RV(added), RV(updated) and RV(removed) list. With V(sample), at most the first 1,000
        each, so that a large change costs little to report (Ansible checks and serialises every key of a
        result); with V(all), every key. RV(added_count), RV(updated_count) and RV(removed_count) always
        count them all.
      - The default is V(sample) with O(src) and V(all) otherwise, where the task lists every key itself.
    type: str
    choices: [sample, all]
"""
