# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# The documentation of an action that runs on the controller only (plugins/action/declare.py).

DOCUMENTATION = r"""
module: declare
short_description: Map a role's variables to what it asks of M(mailtls.postfix.tls_profile)
version_added: 0.2.0
description:
  - Reads the variables of one of the collection's roles (every C(<role>_*) name, templated)
    and maps them to what the role asks of M(mailtls.postfix.tls_profile) - a profile role's
    declaration (an item of its O(mailtls.postfix.tls_profile#module:declarations)), or for
    the C(server) role the arguments of its one call. Runs on the controller only; nothing is
    sent to the host.
  - A variable with a profile role's prefix that the role's argument spec does not know (a typo
    such as C(tls_forced_destination)) fails the task, naming the closest known variable.
  - Used by the roles' C(declare) and C(apply) entry points; run it inside those roles, whose
    defaults and distribution data (C(roles/server/vars/main.yml)) it reads.
author:
  - mailtls.postfix developers (@mailtls)
options:
  role:
    description: The role whose variables are mapped.
    type: str
    required: true
    choices: [tls_receiving, tls_forced, tls_opportunistic, tls_relay, server]
attributes:
  action:
    description: Runs on the controller, as an action plugin.
    support: full
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Changes nothing anywhere, in check mode or not.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: all
notes:
  - The result is shown censored (as with C(no_log)); a declaration may hold a relay's password
    or a private key. Register it to use it.
seealso:
  - module: mailtls.postfix.tls_profile
"""

EXAMPLES = r"""
# What the profile roles' declare entry point (through mailtls.postfix.server) does.
- name: Map tls_forced's variables to its declaration
  mailtls.postfix.declare:
    role: tls_forced
  register: __server_declaration

- name: Add it to the host's declarations
  ansible.builtin.set_fact:
    server_declarations: "{{ __server_declaration.declarations }}"
  no_log: true
"""

RETURN = r"""
declaration:
  description: The profile role's declaration.
  returned: when O(role) is a profile role
  type: dict
declarations:
  description: The host's C(server_declarations) with this declaration added last.
  returned: when O(role) is a profile role
  type: list
  elements: dict
arguments:
  description:
    - The arguments of the server role's M(mailtls.postfix.tls_profile) call, the host's
      C(server_declarations) as its O(mailtls.postfix.tls_profile#module:declarations).
  returned: when O(role=server)
  type: dict
switches:
  description:
    - The server role's C(server_manage_packages), C(server_manage_service) and C(server_apply_host_settings)
      as booleans, read as the role's argument spec reads them (given as text too), for the role's conditions.
  returned: when O(role=server)
  type: dict
  sample: {manage_packages: true, manage_service: true, apply_host_settings: true}
"""
