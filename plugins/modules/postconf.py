#!/usr/bin/python
# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: postconf
short_description: Set or remove Postfix main.cf parameters, keeping every other line
version_added: 0.1.0
description:
  - Edits C(main.cf) one parameter at a time with the semantics of C(postconf -e) and
    C(postconf -X), but with real check mode, diff, locking and validation.
  - Every comment, blank line and line it does not change stays byte for byte where it was,
    continuation lines included. A parameter that already holds the wanted value on every
    line that sets it is left untouched, so a second run reports no change and writes nothing.
  - Before the live file is replaced, the real C(postconf) reads the new text from a scratch
    directory and must confirm every changed parameter; otherwise the module fails and nothing
    changes.
  - The file is replaced atomically under the same lock C(postconf -e) takes, so concurrent
    edits by this module or by C(postconf -e) are never lost.
  - Warns about parameter names Postfix does not know and about obsolete TLS parameters such as
    C(smtpd_use_tls), naming the modern replacement.
author:
  - mailtls.postfix developers (@mailtls)
options:
  name:
    description:
      - The parameter to set or remove.
      - Mutually exclusive with O(parameters).
    type: str
  value:
    description:
      - The value of O(name) with O(state=present).
      - Strings are stripped of surrounding whitespace, as C(postconf -e) does. Booleans are
        written C(yes)/C(no), numbers as decimal text, and lists joined with C(", ") the way
        Postfix lists are written. A list is compared element by element, so
        C(a b) already satisfies C([a, b]).
      - An empty string sets the parameter to an empty value. Newlines, carriage returns and
        NUL bytes are refused.
    type: raw
  parameters:
    description:
      - Many parameters in one edit.
      - With O(state=present), a mapping of names to values (see O(value)).
      - With O(state=absent), a list of names (a mapping's keys are also accepted).
      - Mutually exclusive with O(name).
    type: raw
  validate:
    description:
      - A command that must succeed before the live main.cf is replaced, run after C(postconf)
        has confirmed the new values. C(%s) stands for a scratch configuration directory holding
        the new main.cf and a copy of master.cf.
      - V(postfix -c %s check) catches what C(postconf) accepts but Postfix would not start with,
        such as an unknown C(mail_owner); it also checks the queue directory, as C(postfix check)
        always does. The roles of this collection use it.
      - Runs in check mode too, like the read-back.
    type: str
  state:
    description:
      - V(present) sets the parameters, like C(postconf -e).
      - V(absent) removes every line that sets them, like C(postconf -X).
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - mailtls.postfix.common
  - ansible.builtin.files
notes:
  - Postfix reads C(main.cf) again only on C(postfix reload); a changed parameter listed in
    RV(restart_required) needs a full stop and start. The C(mailtls.postfix.server) role's
    handlers do the right one.
  - Obsolete TLS parameters and their replacements are listed in the collection's
    C(docs/tls-parameters.md).
seealso:
  - name: postconf(5)
    description: Postfix configuration parameters.
    link: https://www.postfix.org/postconf.5.html
  - name: postconf(1)
    description: The Postfix configuration utility whose editing semantics this module follows.
    link: https://www.postfix.org/postconf.1.html
"""

EXAMPLES = r"""
- name: Opportunistic TLS for all outgoing mail
  mailtls.postfix.postconf:
    name: smtp_tls_security_level
    value: may

- name: Per-destination TLS policies from a table
  mailtls.postfix.postconf:
    parameters:
      smtp_tls_security_level: may
      smtp_tls_policy_maps: hash:/etc/postfix/tls_policy
      smtp_tls_loglevel: 1
      smtp_tls_mandatory_protocols: [">=TLSv1.2"]
  notify: Reload Postfix

- name: Drop the obsolete parameter the old how-to set
  mailtls.postfix.postconf:
    name: smtpd_use_tls
    state: absent

- name: Change the mail owner only if Postfix would still start
  mailtls.postfix.postconf:
    name: mail_owner
    value: postfix
    validate: postfix -c %s check

- name: Edit a second Postfix instance, keeping a backup
  mailtls.postfix.postconf:
    config_dir: /etc/postfix-out
    name: inet_interfaces
    value: 192.0.2.25
    backup: true
  register: out_instance

- name: Restart rather than reload when a parameter needs it
  ansible.builtin.debug:
    msg: "Postfix needs a restart"
  when: out_instance.restart_required
"""

RETURN = r"""
changes:
  description:
    - The parameters whose lines changed (or would change in check mode), each with the value
      Postfix used before (V(null) if unset) and the value after (V(null) when removed).
  returned: always
  type: dict
  sample:
    smtp_tls_security_level:
      before: null
      after: may
    smtpd_use_tls:
      before: "yes"
      after: null
restart_required:
  description:
    - Whether a changed parameter takes effect only after Postfix is stopped and started
      (for example C(inet_interfaces)); otherwise a reload is enough.
  returned: always
  type: bool
  sample: false
config_file:
  description: The main.cf that was edited.
  returned: always
  type: str
  sample: /etc/postfix/main.cf
backup_file:
  description: The backup copy, when O(backup=true) and the file changed.
  returned: changed and O(backup=true)
  type: str
  sample: /etc/postfix/main.cf.2104.2026-11-25@14:42:01~
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host.base import run_module
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.work.postconf_edit import PostconfEdit
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.specs import VALIDATE, edit_spec


def main():
    module = AnsibleModule(
        argument_spec=edit_spec(
            name=dict(type="str"),
            value=dict(type="raw"),
            parameters=dict(type="raw"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            validate=VALIDATE,
        ),
        mutually_exclusive=[("name", "parameters")],
        required_one_of=[("name", "parameters")],
        add_file_common_args=True,
        supports_check_mode=True,
    )
    run_module(module, PostconfEdit)


if __name__ == "__main__":
    main()
