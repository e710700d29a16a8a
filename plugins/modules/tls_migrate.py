#!/usr/bin/python
# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: tls_migrate
short_description: Replace obsolete Postfix TLS parameters with the security-level parameters
version_added: 0.1.0
description:
  - Reads main.cf and moves obsolete TLS parameters to their modern equivalents, the way Postfix
    itself interprets them. C(smtpd_use_tls = yes) becomes C(smtpd_tls_security_level = may),
    C(smtpd_enforce_tls = yes) C(encrypt), C(smtp_enforce_tls = yes) C(verify) (or C(encrypt) when
    C(smtp_tls_enforce_peername = no)); the same for C(lmtp_) and C(tlsproxy_).
  - A security level that is already set wins, as it does in Postfix; then only the obsolete
    parameters are removed. The ignored C(*_tls_cipherlist) parameters are removed.
  - What cannot be moved automatically (C(smtp_tls_per_site) tables) is reported in RV(notes).
  - Run it with C(--check --diff) first to see the change. The edit has every guarantee of
    M(mailtls.postfix.postconf) - only changed lines change, Postfix reads the result back before
    it goes live, atomic replacement under Postfix's lock.
author:
  - mailtls.postfix developers (@mailtls)
options:
  validate:
    description:
      - As in M(mailtls.postfix.postconf), for example V(postfix -c %s check).
    type: str
extends_documentation_fragment:
  - mailtls.postfix.common
  - ansible.builtin.files
seealso:
  - module: mailtls.postfix.postconf
  - module: mailtls.postfix.postfix_info
"""

EXAMPLES = r"""
- name: See what the migration would change
  mailtls.postfix.tls_migrate:
  check_mode: true
  diff: true
  register: migration

- name: Migrate, keeping a backup
  mailtls.postfix.tls_migrate:
    backup: true
    validate: postfix -c %s check
  notify: Reload Postfix
"""

RETURN = r"""
changes:
  description: The parameters whose lines changed, with the value before and after.
  returned: always
  type: dict
  sample:
    smtpd_use_tls:
      before: "yes"
      after: null
    smtpd_tls_security_level:
      before: null
      after: may
notes:
  description: What was decided and what needs a human, one sentence each.
  returned: always
  type: list
  elements: str
  sample:
    - smtp_tls_per_site uses the old NONE/MAY/MUST/MUST_NOPEERMATCH table format; rewrite it by hand
restart_required:
  description: Always false; a reload is enough for these parameters.
  returned: always
  type: bool
config_file:
  description: The main.cf that was read.
  returned: always
  type: str
  sample: /etc/postfix/main.cf
backup_file:
  description: The backup copy, when O(backup=true) and the file changed.
  returned: changed and O(backup=true)
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.base import run_module
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.postconf_edit import TlsMigrate
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.specs import VALIDATE, edit_spec


def main():
    module = AnsibleModule(
        argument_spec=edit_spec(validate=VALIDATE),
        add_file_common_args=True,
        supports_check_mode=True,
    )
    run_module(module, TlsMigrate)


if __name__ == "__main__":
    main()
