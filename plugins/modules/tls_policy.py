#!/usr/bin/python
# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: tls_policy
short_description: Manage Postfix TLS policy table entries as typed data
version_added: 0.1.0
description:
  - Manages entries of the table named by C(smtp_tls_policy_maps), each a destination with a TLS
    security level and attributes, validated before anything is written.
  - Levels and attributes follow Postfix's TLS_README. Each attribute is checked against the
    levels it applies to (a C(match) on C(encrypt) is an error) and the Postfix version that
    introduced it (C(connection_reuse) needs 3.4).
  - Destinations are normalised to the keys Postfix looks up (lower case), and O(include_subdomains)
    adds the C(.example.com) entry that covers every sub-domain.
  - Built on the same engine as M(mailtls.postfix.lookup_table), with the same guarantees. Comments
    and unrelated entries kept, C(postmap) only when needed and never in check mode, atomic
    index replacement, and a C(postmap -q) read-back of every changed key before it goes live.
  - This module edits the table only; point C(smtp_tls_policy_maps) at it with
    M(mailtls.postfix.postconf), for example C(hash:/etc/postfix/tls_policy).
author:
  - mailtls.postfix developers (@mailtls)
options:
  path:
    description:
      - The table's source file. It is created when it does not exist.
    type: path
    default: /etc/postfix/tls_policy
  type:
    description:
      - The table type. Defaults to the instance's C(default_database_type).
    type: str
  destination:
    description:
      - The next-hop destination of one policy, as Postfix looks it up.
      - C(example.com) (the domain, after MX lookup), C(.example.com) (its sub-domains),
        C([mx.example.com]) or C([mx.example.com]:587) (a host without MX lookup),
        C([192.0.2.1]), C(example.com:587).
    type: str
  destinations:
    description:
      - Several destinations that get the same O(level), O(attributes) and O(include_subdomains).
    type: list
    elements: str
  level:
    description:
      - The TLS security level for O(destination) and O(destinations), and the default for the
        items of O(policies). Required with O(state=present), here or in every policy.
    type: str
    choices: [none, may, encrypt, dane, dane-only, fingerprint, verify, secure]
  attributes:
    description:
      - Policy attributes for O(destination) and O(destinations), by name, and the default for
        the items of O(policies).
      - C(ciphers) (a grade such as C(high)), C(protocols) and C(exclude) (lists), C(match) (a list of
        names or keywords for C(verify)/C(secure), of fingerprints for C(fingerprint)), C(tafile),
        C(servername), C(connection_reuse) and C(enable_rpk) (booleans).
    type: dict
    default: {}
  include_subdomains:
    description:
      - Also add (or remove) the C(.domain) entry, so that the policy covers every sub-domain of
        the destination too. The default for the items of O(policies).
      - Applies to plain domains only; a destination without sub-domains (C([mx.example.com]),
        C(example.com:587), C(.example.com)) gets its own entry alone.
    type: bool
    default: false
  policies:
    description:
      - Many policies in one call, with one parse, one write and one C(postmap).
      - Can be combined with O(destination) and O(destinations); a key may appear only once with
        one policy.
    type: list
    elements: dict
    suboptions:
      destination:
        description: As O(destination).
        type: str
        required: true
      level:
        description: As O(level); when not set, O(level).
        type: str
        choices: [none, may, encrypt, dane, dane-only, fingerprint, verify, secure]
      attributes:
        description: As O(attributes); when not set, O(attributes).
        type: dict
      include_subdomains:
        description: As O(include_subdomains); when not set, O(include_subdomains).
        type: bool
  src:
    description:
      - The policies as a file, for large tables; in the format O(src_format) says.
      - A file on the controller, found and sent as M(ansible.builtin.copy) finds and sends its O(src)
        (a role's or the playbook's C(files/) directory), or with O(remote_src=true) a file already on
        the managed host. Only a regular file is read; a directory, a FIFO or (on the managed host) a
        symbolic link is refused, and so are bytes that are not UTF-8.
      - Every policy gets the same checks as an item of O(policies) (level, attributes and the Postfix
        version they need, destinations, a key given twice), and an error names the line, row or item.
        Every guarantee holds - per-entry diff, O(exclusive) (the file is then the whole table),
        O(downgrade), the atomic build and the C(postmap) read-back, and a run with nothing to do writes
        nothing and runs no C(postmap).
      - O(level), O(attributes) and O(include_subdomains) are the defaults of a policy of a V(yaml) or
        V(csv) file that does not set them.
      - The file sent to the managed host is created C(0600) in Ansible's private temporary directory
        and removed once the module returned, also when it failed.
      - Only with O(state=present). Mutually exclusive with O(destination), O(destinations) and
        O(policies).
    type: path
  src_format:
    description:
      - The format of O(src).
      - V(postfix) - a policy table source as C(postmap) reads it, C(destination level [name=value ...])
        per line, for example C([relay.example.net]:587 encrypt protocols=>=TLSv1.2 ciphers=high).
      - V(yaml) - a list of policies, each a mapping with the keys of an item of O(policies)
        (C(destination), C(level), C(attributes), C(include_subdomains)). Needs PyYAML on the managed host.
      - V(csv) - rows C(destination,level,attributes,include_subdomains), the header row optional; the
        attributes as C(name=value) words separated by spaces (C(match=nexthop:dot-nexthop protocols=>=TLSv1.2)),
        C(include_subdomains) as C(yes) or C(no); empty cells take the defaults. A cell that holds a
        newline, a tab or another control character is refused.
    type: str
    choices: [postfix, yaml, csv]
    default: postfix
  state:
    description:
      - Whether the policies should be present or absent.
    type: str
    choices: [present, absent]
    default: present
  exclusive:
    description:
      - With O(state=present), remove every entry not given in this call.
    type: bool
    default: false
  downgrade:
    description:
      - Whether an entry that already exists with a stronger level may be replaced by a weaker one.
      - With V(false), such an entry stays as it is, is listed in RV(kept), and a warning says so. This
        is how two roles share one table without one silently weakening the other's forced TLS.
      - Strength, after Postfix's TLS_README - C(none) < C(may) < C(dane) (opportunistic DANE) <
        C(encrypt) < C(dane-only), C(fingerprint), C(verify) < C(secure). Levels of equal rank are not
        ordered, so they replace each other.
    type: bool
    default: true
extends_documentation_fragment:
  - mailtls.postfix.common
  - mailtls.postfix.common.table_src
notes:
  - The table keeps its owner and mode; a new one is created C(0644) and owned by the user the
    module runs as. (The file options of M(mailtls.postfix.lookup_table) are not offered here
    because O(attributes) names the policy attributes.)
seealso:
  - module: mailtls.postfix.lookup_table
  - module: mailtls.postfix.postconf
  - name: Postfix TLS_README, per-destination policies
    description: The levels and attributes this module validates.
    link: https://www.postfix.org/TLS_README.html#client_tls_policy
"""

EXAMPLES = r"""
- name: Force TLS to a partner and its sub-domains (the how-to's "encrypt encrypt")
  mailtls.postfix.tls_policy:
    destination: partner.example
    level: encrypt
    include_subdomains: true

- name: The same policy for several destinations
  mailtls.postfix.tls_policy:
    destinations: [a.example, b.example]
    level: may

- name: Several policies at once
  mailtls.postfix.tls_policy:
    policies:
      - destination: bank.example
        level: secure
        attributes:
          match: [nexthop, dot-nexthop]
          protocols: [">=TLSv1.2"]
      - destination: "[relay.example.net]:587"
        level: encrypt
        attributes:
          ciphers: high
      - destination: legacy.example
        level: may

- name: A fleet's 100,000 policies from a CSV file of the playbook's files/, as the whole table
  mailtls.postfix.tls_policy:
    src: tls_policies.csv
    src_format: csv
    exclusive: true

- name: Point Postfix at the table
  mailtls.postfix.postconf:
    name: smtp_tls_policy_maps
    value: hash:/etc/postfix/tls_policy

- name: Stop forcing TLS to a destination
  mailtls.postfix.tls_policy:
    destination: partner.example
    include_subdomains: true
    state: absent
"""

RETURN = r"""
table:
  description: The table as main.cf names it.
  returned: always
  type: str
  sample: hash:/etc/postfix/tls_policy
added:
  description: Keys added; with O(report=sample), the first 1,000.
  returned: always
  type: list
  elements: str
  sample: [partner.example, .partner.example]
updated:
  description: Keys whose policy changed; with O(report=sample), the first 1,000.
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
  sample: 2
updated_count:
  description: How many keys changed their policy, whatever RV(updated) lists.
  returned: always
  type: int
  sample: 0
removed_count:
  description: How many keys were removed, whatever RV(removed) lists.
  returned: always
  type: int
  sample: 0
kept:
  description: Keys left at their stronger level because O(downgrade=false).
  returned: always
  type: list
  elements: str
  sample: [partner.example]
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
backup_file:
  description: The backup copy, when O(backup=true) and the source changed.
  returned: changed and O(backup=true)
  type: str
  sample: /etc/postfix/tls_policy.2104.2026-11-25@14:42:01~
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host.base import run_module
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.work.table_edit import TlsPolicyEdit
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.specs import edit_spec, policy_item_spec
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.tls import LEVELS


def main():
    module = AnsibleModule(
        argument_spec=edit_spec(
            path=dict(type="path", default="/etc/postfix/tls_policy"),
            type=dict(type="str"),
            destination=dict(type="str"),
            destinations=dict(type="list", elements="str"),
            level=dict(type="str", choices=list(LEVELS)),
            attributes=dict(type="dict", default={}),
            include_subdomains=dict(type="bool", default=False),
            policies=dict(type="list", elements="dict", options=policy_item_spec(LEVELS)),
            src=dict(type="path"),
            src_format=dict(type="str", default="postfix", choices=["postfix", "yaml", "csv"]),
            remote_src=dict(type="bool", default=False),
            report=dict(type="str", choices=["sample", "all"]),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            exclusive=dict(type="bool", default=False),
            downgrade=dict(type="bool", default=True),
        ),
        required_one_of=[("destination", "destinations", "policies", "src")],
        mutually_exclusive=[("src", "destination"), ("src", "destinations"), ("src", "policies")],
        supports_check_mode=True,
    )
    run_module(module, TlsPolicyEdit)


if __name__ == "__main__":
    main()
