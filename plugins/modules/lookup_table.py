#!/usr/bin/python
# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: lookup_table
short_description: Manage entries of a Postfix lookup table and rebuild its index only when needed
version_added: 0.1.0
description:
  - Adds, changes and removes entries of a file-based Postfix lookup table (C(hash), C(btree),
    C(lmdb), C(cdb), C(texthash), C(regexp), C(pcre), C(cidr), ...), keeping comments, order and
    unrelated entries of the source file.
  - Keys are folded to lower case for the types whose keys C(postmap) folds, so the same key written
    twice is one entry; like C(postmap), the first of duplicate keys wins, and an update removes the
    duplicates.
  - C(postmap) runs only when the source changed, or when the index is missing or older than the
    source (a half set-up host is repaired), or with O(file_values=true) when a file an entry names
    changed, never in check mode. The index is built from a
    temporary copy and renamed into place, so a running Postfix never reads a half-built table.
  - Before anything goes live, C(postmap -q) must resolve every added or changed key to its new
    value, and a removed key to nothing.
  - For flat types (C(texthash), C(regexp), C(pcre), C(cidr)) no C(postmap) runs, and the result says
    that Postfix needs a reload.
  - One parse, one write and at most one C(postmap) per call, however many entries.
author:
  - mailtls.postfix developers (@mailtls)
options:
  path:
    description:
      - The table's source file. It is created when it does not exist; its directory must exist.
    type: path
    required: true
  type:
    description:
      - The table type, as in C(type:path) in main.cf.
      - Defaults to the instance's C(default_database_type) (C(hash) on Debian 12; C(lmdb) on newer
        distributions).
      - A type that C(postconf -m) does not list fails, naming the package that provides it.
    type: str
  key:
    description:
      - One key to manage. A key is one word without whitespace. Mutually exclusive with O(entries)
        and O(src).
    type: str
  value:
    description:
      - The value of O(key) with O(state=present).
    type: str
  entries:
    description:
      - Many entries in one call.
      - With O(state=present), a mapping of keys to values.
      - With O(state=absent), a list of keys.
      - Mutually exclusive with O(key) and O(src).
    type: raw
  src:
    description:
      - The entries as a file, for large tables - a Postfix table source as C(postmap) reads it
        (O(src_format=postfix)), C(key value) per line, comments, blank lines and continuation lines
        as Postfix allows them.
      - A file on the controller, found and sent as M(ansible.builtin.copy) finds and sends its O(src)
        (a role's or the playbook's C(files/) directory), or with O(remote_src=true) a file already on
        the managed host. Only a regular file is read; a directory, a FIFO or (on the managed host) a
        symbolic link is refused, and so are bytes that are not UTF-8.
      - Every entry gets the same checks as O(entries), and every guarantee holds - per-entry diff,
        O(exclusive) (the file is then the whole table), O(secret), the atomic build and the C(postmap)
        read-back, and a run with nothing to do writes nothing and runs no C(postmap).
      - Refused, naming the line - a line without a value, a key given twice (C(postmap) would keep the
        first), a continuation line with nothing to continue, an C(if)/C(endif) block.
      - The file sent to the managed host is created C(0600) in Ansible's private temporary directory
        and removed once the module returned, also when it failed; its content is never shown.
      - Only with O(state=present). Mutually exclusive with O(key) and O(entries).
    type: path
  src_format:
    description:
      - The format of O(src). V(postfix) is a Postfix table source, as C(postmap) reads it.
    type: str
    choices: [postfix]
    default: postfix
  state:
    description:
      - Whether the entries should be present or absent.
    type: str
    choices: [present, absent]
    default: present
  exclusive:
    description:
      - With O(state=present), remove every entry whose key is not in O(entries) or O(key), so that
        the task is the single source of truth for the table.
    type: bool
    default: false
  secret:
    description:
      - The table holds secrets, such as the SASL client's C(sasl_passwd).
      - No value is ever shown, in the result, the diff (values appear as C(********)), the echoed
        arguments, warnings or errors; keys are shown.
      - A new table is created C(0600); an existing one loses every permission for other users. A
        O(mode) that lets other users read it is refused. The index (C(.db), C(.lmdb), ...) and every
        temporary file get the source's mode and owner before the first byte is written.
      - Set C(no_log) on the task as well when the keys themselves are confidential.
    type: bool
    default: false
  file_values:
    description:
      - Each value is a list of files whose content the index holds, as Postfix's SNI table
        (C(tls_server_sni_maps)) needs, the private key file first, then its certificate chain.
        The index is built with C(postmap -F).
      - A value is a string of absolute paths separated by spaces or commas, or a list of paths.
        Every file must be a regular file (a symbolic link to one is fine, as certbot's C(live/)
        names are) that can be read and holds PEM; the first must start with an unencrypted private
        key, and a certificate must follow it. Otherwise the task fails, naming the key and the
        file, and nothing is written. Entries of the table this task does not manage are checked too.
      - Only for indexed types (C(hash), C(btree), C(lmdb), C(cdb)); C(postmap -F) cannot build
        C(texthash), C(regexp), C(pcre) or C(cidr) tables.
      - The index holds the private keys, so the table and its index are private like with
        O(secret=true) (C(0600) unless O(mode) lets the group read them; a O(mode) that lets other
        users read them is refused). The values are file names and are shown.
      - The index is also rebuilt when a file's content differs from what the index holds, although
        the table did not change; this is compared by content, so a file copied with its old
        modification time or renamed into place is found too. A run with nothing to do reads the
        index once and builds nothing.
    type: bool
    default: false
extends_documentation_fragment:
  - mailtls.postfix.common
  - ansible.builtin.files
  - mailtls.postfix.common.table_src
seealso:
  - module: mailtls.postfix.tls_policy
  - name: postmap(1)
    description: Postfix lookup table management.
    link: https://www.postfix.org/postmap.1.html
  - name: DATABASE_README
    description: Postfix lookup table overview.
    link: https://www.postfix.org/DATABASE_README.html
"""

EXAMPLES = r"""
- name: Relay a domain through a smarthost
  mailtls.postfix.lookup_table:
    path: /etc/postfix/transport
    key: example.org
    value: smtp:[relay.example.net]:587

- name: Own the whole sender access table
  mailtls.postfix.lookup_table:
    path: /etc/postfix/sender_access
    type: lmdb
    entries:
      spammer.example: REJECT
      partner.example: OK
    exclusive: true

- name: The SASL client's password table, 0600 with its index, values never shown
  mailtls.postfix.lookup_table:
    path: /etc/postfix/sasl_passwd
    entries:
      "[smtp.example.net]:587": "user@example.net:{{ relay_password }}"
    secret: true

- name: Postfix's SNI table, built with postmap -F and rebuilt when a certificate is renewed
  mailtls.postfix.lookup_table:
    path: /etc/postfix/sni
    entries:
      mail.example.org:
        - /etc/letsencrypt/live/mail.example.org/privkey.pem
        - /etc/letsencrypt/live/mail.example.org/fullchain.pem
      mail.example.net: /etc/postfix/sni-chains/example.net.key /etc/postfix/sni-chains/example.net.pem
    exclusive: true
    file_values: true

- name: A 100,000-entry access table from a file of the playbook's files/, as the whole table
  mailtls.postfix.lookup_table:
    path: /etc/postfix/sender_access
    src: sender_access.txt
    exclusive: true

- name: The SASL client's password table from a file the host already has, never shown
  mailtls.postfix.lookup_table:
    path: /etc/postfix/sasl_passwd
    src: /root/sasl_passwd.source
    remote_src: true
    secret: true

- name: Remove entries
  mailtls.postfix.lookup_table:
    path: /etc/postfix/transport
    entries: [old.example, older.example]
    state: absent
"""

RETURN = r"""
table:
  description: The table as main.cf names it.
  returned: always
  type: str
  sample: hash:/etc/postfix/transport
added:
  description:
    - Keys added (or that would be added in check mode); with O(report=sample), the first 1,000.
  returned: always
  type: list
  elements: str
  sample: [example.org]
updated:
  description: Keys whose value changed; with O(report=sample), the first 1,000.
  returned: always
  type: list
  elements: str
  sample: []
removed:
  description: Keys removed; with O(report=sample), the first 1,000.
  returned: always
  type: list
  elements: str
  sample: []
added_count:
  description: How many keys were added, whatever RV(added) lists.
  returned: always
  type: int
  sample: 1
updated_count:
  description: How many keys changed their value, whatever RV(updated) lists.
  returned: always
  type: int
  sample: 0
removed_count:
  description: How many keys were removed, whatever RV(removed) lists.
  returned: always
  type: int
  sample: 0
postmap_run:
  description: Whether the index was (or in check mode would be) rebuilt.
  returned: always
  type: bool
  sample: true
reload_required:
  description: Whether Postfix must be reloaded to see the change (flat table types only).
  returned: always
  type: bool
  sample: false
rebuild_reason:
  description:
    - Why the index was (or in check mode would be) rebuilt, such as
      C(the files of 'mail.example.org' changed since the index was built); null when it was not.
  returned: with O(file_values=true)
  type: str
  sample: the files of 'mail.example.org' changed since the index was built
backup_file:
  description: The backup copy, when O(backup=true) and the source changed.
  returned: changed and O(backup=true)
  type: str
  sample: /etc/postfix/transport.2104.2026-11-25@14:42:01~
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host.base import run_module, secret_in_arguments
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.work.table_edit import LookupTableEdit
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.specs import edit_spec


def main():
    module = AnsibleModule(
        argument_spec=edit_spec(
            path=dict(type="path", required=True),
            type=dict(type="str"),
            key=dict(type="str", no_log=False),
            value=dict(type="str"),
            entries=dict(type="raw"),
            src=dict(type="path"),
            src_format=dict(type="str", default="postfix", choices=["postfix"]),
            remote_src=dict(type="bool", default=False),
            report=dict(type="str", choices=["sample", "all"]),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            exclusive=dict(type="bool", default=False),
            secret=dict(type="bool", default=False),
            file_values=dict(type="bool", default=False),
        ),
        mutually_exclusive=[("key", "entries", "src")],
        required_one_of=[("key", "entries", "src")],
        add_file_common_args=True,
        supports_check_mode=True,
        no_log=secret_in_arguments(),
    )
    run_module(module, LookupTableEdit)


if __name__ == "__main__":
    main()
