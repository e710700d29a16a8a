#!/usr/bin/python
# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: tls_migrate
short_description: Replace obsolete Postfix TLS parameters with the security-level parameters
version_added: 0.1.0
description:
  - Moves the obsolete TLS switches (C(*_use_tls), C(*_enforce_tls), C(*_tls_enforce_peername) of
    C(smtpd), C(smtp), C(lmtp), C(postscreen), C(tlsproxy) and C(tlsproxy_client)) to the
    C(*_security_level) parameters, in main.cf and in the C(-o) overrides of master.cf services.
  - It works on the values Postfix reads (C(postconf -x)), so C(smtpd_use_tls = $enable_tls) counts
    as what C($enable_tls) holds, and on the rules of postconf(5) - a non-empty security level
    overrides the switches; C(smtp_enforce_tls = yes) means C(verify), or C(encrypt) with
    C(smtp_tls_enforce_peername = no).
  - The level Postfix applies stays the same everywhere - globally, and in every service that runs
    C(smtpd), C(smtp), C(lmtp), C(postscreen) or C(tlsproxy), each with its overrides. Where removing
    a switch would change a level, the level is set - in main.cf, or as C(-o
    <prefix>_tls_security_level=<level>) in that service. For example C(smtpd_use_tls = yes) with a
    submission service that has C(-o smtpd_enforce_tls=yes) becomes C(smtpd_tls_security_level = may)
    and C(-o smtpd_tls_security_level=encrypt). RV(tls_levels) reports these levels.
  - master.cf is written before main.cf, and the levels are confirmed by the real C(postconf) for both
    the state in between and the final one before anything is written, so no service is downgraded
    even for a moment. Each file is replaced atomically under Postfix's lock.
  - Services whose daemon is not one of those keep their C(-o) switches (reported in RV(notes)). The
    ignored C(*_tls_cipherlist) parameters are removed from main.cf. What cannot be moved
    automatically (C(smtp_tls_per_site) tables) is reported in RV(notes).
  - Refused, with nothing changed - a value that refers to a parameter the migration removes (it would
    change); a switch set in master.cf with Postfix 3.0's C(-o { name = value }) form; a switch that
    is neither C(yes) nor C(no).
  - Run it with C(--check --diff) first to see the change - one diff per file.
author:
  - mailtls.postfix developers (@mailtls)
options:
  validate:
    description:
      - As in M(mailtls.postfix.postconf), for example V(postfix -c %s check). It runs once, on a
        scratch directory holding both new files.
    type: str
extends_documentation_fragment:
  - mailtls.postfix.common
  - ansible.builtin.files
notes:
  - The file options (O(mode), O(owner), O(group), ...) apply to both main.cf and master.cf.
seealso:
  - module: mailtls.postfix.postconf
  - module: mailtls.postfix.master_cf
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
  description: The main.cf parameters whose lines changed, with the value before and after (as written).
  returned: always
  type: dict
  sample:
    smtpd_use_tls:
      before: "yes"
      after: null
    smtpd_tls_security_level:
      before: null
      after: may
master_cf_changes:
  description: The master.cf entries that changed, each as it was and as it is written now.
  returned: always
  type: dict
  sample:
    submission/inet:
      before: "submission inet  n       -       y       -       -       smtpd\n  -o smtpd_enforce_tls=yes\n"
      after: "submission inet  n       -       y       -       -       smtpd\n  -o smtpd_tls_security_level=encrypt\n"
tls_levels:
  description:
    - The TLS level Postfix applies, under C(main.cf) for the global values and under each
      C(service/type) for the roles its daemon runs; the same before and after the migration.
    - Server roles show C(none), C(may), C(encrypt) (also for C(verify), which they treat as
      C(encrypt)) or C(wrappermode); the C(tlsproxy_client) role shows whether it sets up TLS
      (C(may)) or not (C(none)).
  returned: always
  type: dict
  sample:
    main.cf: {smtpd: may, smtp: may, lmtp: none, postscreen: may, tlsproxy: may, tlsproxy_client: may}
    submission/inet: {smtpd: encrypt}
notes:
  description: What was decided and what needs a human, one sentence each.
  returned: always
  type: list
  elements: str
  sample:
    - "submission/inet: removed -o smtpd_enforce_tls=yes and added -o smtpd_tls_security_level=encrypt;
      its TLS level stays smtpd encrypt"
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
master_cf_file:
  description: The master.cf that was read, or null when the directory has none.
  returned: always
  type: str
  sample: /etc/postfix/master.cf
backup_file:
  description: The backup copy of main.cf, when O(backup=true) and it changed.
  returned: changed and O(backup=true)
  type: str
master_cf_backup_file:
  description: The backup copy of master.cf, when O(backup=true) and it changed.
  returned: changed and O(backup=true)
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host.base import run_module
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.work.postconf_edit import TlsMigrate
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.specs import VALIDATE, edit_spec


def main():
    module = AnsibleModule(
        argument_spec=edit_spec(validate=VALIDATE),
        add_file_common_args=True,
        supports_check_mode=True,
    )
    run_module(module, TlsMigrate)


if __name__ == "__main__":
    main()
