#!/usr/bin/python
# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: postfix_info
short_description: Report what a Postfix instance runs - version, table types, TLS settings, policy tables
version_added: 0.1.0
description:
  - Reads a Postfix instance without changing anything. Returns its version, the lookup table types
    it supports (C(postconf -m)), C(default_database_type), every effective TLS parameter and the
    ones main.cf sets explicitly, the TLS policy tables in use with their entry counts and whether
    their index is fresh, and the obsolete TLS parameters main.cf and master.cf still set.
  - What the roles need to make version-aware choices, and what a user wants to compare across a
    fleet.
author:
  - mailtls.postfix developers (@mailtls)
options:
  count_entries:
    description: Count the entries of file-based policy tables (reads each source once).
    type: bool
    default: true
extends_documentation_fragment:
  - mailtls.postfix.common.config_dir
  - mailtls.postfix.common.read_only
requirements:
  - Postfix (C(postconf)) on the managed host.
seealso:
  - module: mailtls.postfix.tls_migrate
"""

EXAMPLES = r"""
- name: Read the instance
  mailtls.postfix.postfix_info:
  register: postfix

- name: Warn about obsolete TLS parameters
  ansible.builtin.debug:
    msg: "{{ item.name }} = {{ item.value }}: use {{ item.replacement }}"
  loop: "{{ postfix.obsolete }}"

- name: Only use lmdb where Postfix has it
  mailtls.postfix.tls_policy:
    destination: partner.example
    level: encrypt
    type: "{{ 'lmdb' if 'lmdb' in postfix.map_types else omit }}"
"""

RETURN = r"""
config_dir:
  description: The configuration directory read.
  returned: always
  type: str
  sample: /etc/postfix
version:
  description: C(mail_version).
  returned: always
  type: str
  sample: 3.7.11
version_info:
  description: The version as numbers, for comparisons.
  returned: always
  type: list
  elements: int
  sample: [3, 7, 11]
map_types:
  description: The lookup table types this Postfix supports.
  returned: always
  type: list
  elements: str
  sample: [btree, cdb, cidr, hash, lmdb, texthash]
default_database_type:
  description: The table type used when none is given.
  returned: always
  type: str
  sample: hash
tls:
  description: Every effective TLS parameter (set or default), by name.
  returned: always
  type: dict
  sample:
    smtp_tls_security_level: may
tls_explicit:
  description: The TLS parameters main.cf sets explicitly.
  returned: always
  type: dict
  sample:
    smtpd_tls_security_level: may
policy_tables:
  description:
    - For C(smtp_tls_policy_maps) and C(lmtp_tls_policy_maps), each table Postfix opens (after
      C($name) expansion, with C(inline:{...}) and other braced tables kept whole), with its type
      and, for file-based types, its path, whether it exists, its entry count and the entries that
      make TLS mandatory (C(forced), a level other than C(none) and C(may)) and, for indexed
      types, whether the index is at least as new as the source. Tables without a source file
      (C(inline), C(socketmap), C(static), ...) have C(file=false).
  returned: always
  type: dict
  sample:
    smtp_tls_policy_maps:
      - table: hash:/etc/postfix/tls_policy
        file: true
        type: hash
        path: /etc/postfix/tls_policy
        exists: true
        entries: 2
        forced:
          - destination: partner.example
            level: encrypt
        index_fresh: true
      - table: "inline:{ {partner.example = encrypt} }"
        file: false
        type: inline
    lmtp_tls_policy_maps: []
forced_destinations:
  description:
    - The destinations the file-based C(smtp_tls_policy_maps) tables make TLS mandatory for, each
      with its level, decided by the first table that holds it (as Postfix looks them up); empty
      when C(count_entries) is false. What M(mailtls.postfix.tls_forced) wrote, and what
      C(playbooks/verify_tls.yml) proves with real mail.
  returned: always
  type: list
  elements: dict
  sample:
    - destination: partner.example
      level: encrypt
    - destination: .partner.example
      level: encrypt
policy_maps:
  description:
    - The elements of C(smtp_tls_policy_maps) and C(lmtp_tls_policy_maps) as main.cf writes them
      (C($name) not expanded, braced tables whole), empty when main.cf does not set them. What a
      task that adds a table to the list should keep.
  returned: always
  type: dict
  sample:
    smtp_tls_policy_maps: [$tls_policy, "inline:{ {partner.example = encrypt} }"]
    lmtp_tls_policy_maps: []
obsolete:
  description:
    - Obsolete TLS parameters main.cf sets, with their replacement, then those master.cf services
      set with C(-o), with the service as C(service/type).
  returned: always
  type: list
  elements: dict
  sample:
    - name: smtpd_use_tls
      value: "yes"
      replacement: smtpd_tls_security_level = may
    - name: smtpd_enforce_tls
      value: "yes"
      replacement: smtpd_tls_security_level = encrypt
      service: submission/inet
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host.base import run_module
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.work.info import PostfixInfo


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config_dir=dict(type="path", default="/etc/postfix"),
            count_entries=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    run_module(module, PostfixInfo)


if __name__ == "__main__":
    main()
