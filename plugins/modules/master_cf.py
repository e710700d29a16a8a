#!/usr/bin/python
# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: master_cf
short_description: Manage one Postfix master.cf service entry, keeping every other line
version_added: 0.1.0
description:
  - Adds, replaces or removes one C(service/type) entry of master.cf with the semantics of
    C(postconf -M) and C(postconf -MX), including its C(-o name=value) options (C(postconf -P)).
  - An entry that already has the wanted fields, command, arguments and options - however it is
    spaced or split over lines - is left untouched; every other line stays byte for byte.
  - Before the live file is replaced, the real C(postconf -M) reads the new entry back from a
    scratch copy and must agree; the file is replaced atomically under Postfix's edit lock.
author:
  - mailtls.postfix developers (@mailtls)
options:
  service:
    description: The service name (first column), such as C(submission) or C(127.0.0.1:2525).
    type: str
    required: true
  type:
    description: The service type (second column).
    type: str
    required: true
    choices: [inet, unix, unix-dgram, fifo, pass]
  state:
    description: Whether the entry should be present or absent.
    type: str
    choices: [present, absent]
    default: present
  private:
    description: The private column (C(y), C(n) or C(-) for the default); booleans are accepted.
    type: raw
  unprivileged:
    description: The unpriv column.
    type: raw
  chroot:
    description: The chroot column.
    type: raw
  wakeup:
    description: The wakeup column (seconds, optionally with C(?), or C(-)).
    type: raw
  maxproc:
    description: The maxproc column (a number or C(-)).
    type: raw
  command:
    description: The command (the daemon name, such as C(smtpd)). Required with O(state=present).
    type: str
  args:
    description:
      - Further command arguments, one word each, such as C(-v).
      - C(-o name=value) (or C(-oname=value)) words are options; they come first, then those of
        O(options). A name given in both with different values is an error.
    type: list
    elements: str
    default: []
  options:
    description:
      - C(-o name=value) options of the entry, in the order given.
      - A value is one word (no spaces or control characters); an empty or null value writes
        C(-o name=), as in C(-o content_filter=). Booleans become C(yes)/C(no).
    type: dict
    default: {}
  validate:
    description: As in M(mailtls.postfix.postconf), for example V(postfix -c %s check).
    type: str
extends_documentation_fragment:
  - mailtls.postfix.common
  - ansible.builtin.files
notes:
  - Postfix applies master.cf changes on C(postfix reload).
seealso:
  - module: mailtls.postfix.postconf
  - name: master(5)
    description: The master.cf format.
    link: https://www.postfix.org/master.5.html
"""

EXAMPLES = r"""
- name: Submission on port 587, STARTTLS required
  mailtls.postfix.master_cf:
    service: submission
    type: inet
    private: n
    chroot: y
    command: smtpd
    options:
      syslog_name: postfix/submission
      smtpd_tls_security_level: encrypt
      smtpd_sasl_auth_enable: "yes"
      smtpd_client_restrictions: permit_sasl_authenticated,reject
  notify: Reload Postfix

- name: Submissions on port 465, implicit TLS
  mailtls.postfix.master_cf:
    service: submissions
    type: inet
    private: n
    chroot: y
    command: smtpd
    options:
      syslog_name: postfix/submissions
      smtpd_tls_wrappermode: "yes"
      smtpd_sasl_auth_enable: "yes"

- name: No more submission service
  mailtls.postfix.master_cf:
    service: submission
    type: inet
    state: absent
"""

RETURN = r"""
service:
  description: The entry's key.
  returned: always
  type: str
  sample: submission/inet
before:
  description: The entry before (as this module would write it), or null.
  returned: always
  type: str
after:
  description: The entry after, or null when removed.
  returned: always
  type: str
  sample: "submission inet  n       -       y       -       -       smtpd\n  -o syslog_name=postfix/submission\n"
config_file:
  description: The master.cf edited.
  returned: always
  type: str
  sample: /etc/postfix/master.cf
backup_file:
  description: The backup copy, when O(backup=true) and the file changed.
  returned: changed and O(backup=true)
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host.base import run_module
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.work.postconf_edit import MasterCfEdit
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.specs import VALIDATE, edit_spec, master_service_spec


def main():
    module = AnsibleModule(
        argument_spec=edit_spec(validate=VALIDATE, **master_service_spec()),
        add_file_common_args=True,
        supports_check_mode=True,
    )
    run_module(module, MasterCfEdit)


if __name__ == "__main__":
    main()
