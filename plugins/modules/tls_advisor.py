#!/usr/bin/python
# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: tls_advisor
short_description: Propose TLS policies per destination from the host's Postfix mail log
version_added: 0.2.0
description:
  - Reads the host's mail log once, streaming (rotated and gzip-compressed files included), and
    answers per destination which TLS level its deliveries would have met, with the evidence
    (the TLS verdict of each delivery's connection, its MX hosts, protocols, ciphers, TLS
    deferrals) and the policy in force. Changes nothing.
  - Only the SMTP (and LMTP) client's own lines are evidence - the program C(<syslog_name>/smtp)
    with a process id, its message starting with the verdict. Needs C(smtp_tls_loglevel >= 1);
    with no verdict in the whole log every delivery counts as C(unknown).
  - A delivery line is paired with the verdict its process logged for the same relay just before.
    A delivery over a reused connection (C(conn_use=N), N > 1) counts as C(unknown); so do all
    deliveries without a verdict when C(smtp_tls_connection_reuse = yes) (tlsproxy logs them).
  - DANE is counted when the connection logged C(Matched DANE ...) (Postfix logs it with
    C(smtp_tls_loglevel >= 2)), or, with Postfix 3.11's C(tls=) delivery field, when a Verified
    handshake ran at level C(dane) or C(dane-only). C(dane-only) is proposed only under level
    C(dane) in force (the same line is logged for a C(tafile) trust anchor at verify or secure).
  - The destination is the recipient domain; with C(relayhost) set it is the relayhost (the
    next hop the policy table is keyed by, TLS_README); a C(transport_maps) entry naming a next hop
    (C(smtp:[relay.example]:587)) makes that the destination.
  - Proposals - C(dane-only) when every delivery was DANE-authenticated, C(secure) when every
    one to every MX host was Verified, C(encrypt) when every one used TLS; none when any was in
    plaintext or unknown, below C(min_deliveries) or C(min_days), or when the level in force is
    as strong already (never a downgrade).
author:
  - mailtls.postfix developers (@mailtls)
options:
  paths:
    description:
      - Log files to read, in this order (absolute paths; a C(.gz) file is gunzipped while read).
        A symbolic link, FIFO or device is refused.
      - Default - the file Postfix logs to, C(maillog_file) when set, else C(/var/log/mail.log), with
        its rotated siblings (C(.1), C(.2.gz), postfix logrotate's C(.YYYYMMDD-HHMMSS.gz)) oldest
        first. When none exists and C(journalctl) is there, the journal's C(postfix/smtp) and
        C(postfix/lmtp) lines.
    type: list
    elements: path
  since:
    description:
      - Only lines at or after this time - ISO 8601 (C(2026-12-01), C(2026-12-01T10:00:00+01:00); UTC
        when no zone) or relative to now (C(7d), C(24h), C(30m), C(2w)).
    type: str
  until:
    description: Only lines at or before this time, as C(since) takes it.
    type: str
  min_deliveries:
    description: Fewest delivered messages (recipients) a destination needs for a proposal.
    type: int
    default: 10
  min_days:
    description: Fewest days between a destination's first and last line for a proposal.
    type: int
    default: 3
  every_mx_seen:
    description:
      - Also require every MX host the host's resolver lists for the destination (C(dig)) to have
        been delivered to. Without C(dig), or without an answer, no proposal is made.
    type: bool
    default: false
  policy_maps:
    description:
      - The TLS policy tables to look destinations up in, in order (C(hash:/etc/postfix/tls_policy)),
        through the real C(postmap -q). Default - the host's C(smtp_tls_policy_maps). The level in
        force is the most specific entry's, else C(smtp_tls_security_level).
    type: list
    elements: str
extends_documentation_fragment:
  - mailtls.postfix.common.config_dir
  - mailtls.postfix.common.read_only
requirements:
  - Postfix (C(postconf), C(postmap)) on the managed host.
notes:
  - Memory stays flat whatever the log's size - one line at a time, at most 20000 destinations,
    64 MX hosts each.
  - Traditional syslog dates have no year - a date after the file's modification time is last year's.
  - Postfix 3.11's C(tls=) field (C(tls=may), C(tls=may:none), C(tls=fingerprint), C(tls=!encrypt)) was checked
    on a real Postfix 3.11.7 log; C(tls=dane) only on the documented format.
seealso:
  - module: mailtls.postfix.tls_policy
  - module: mailtls.postfix.postfix_info
"""

EXAMPLES = r"""
- name: What the last 30 days say
  mailtls.postfix.tls_advisor:
    since: 30d
  register: advice

- name: Force what the log supports
  ansible.builtin.include_role:
    name: mailtls.postfix.tls_forced
  vars:
    tls_forced_destinations: "{{ advice.proposals | dict2items(key_name='destination', value_name='level') }}"
"""

RETURN = r"""
files:
  description: What was read, per file - its lines, and the lines skipped (not UTF-8, garbage, cut overlong).
  returned: always
  type: list
  elements: dict
  sample: [{path: /var/log/mail.log.1, lines: 81234, skipped: 0}]
window:
  description: The time window asked for (C(since), C(until), UTC; null when open) and the first and last delivery line seen in it.
  returned: always
  type: dict
  sample: {since: "2026-11-02T00:00:00+00:00", until: null, first_line: "2026-11-02T00:01:10+00:00", last_line: "2026-12-02T15:48:43+00:00"}
destinations:
  description:
    - Per destination (sorted) - deliveries (sent recipients), their TLS outcomes (C(verified), C(trusted),
      C(untrusted), C(anonymous), C(plaintext), C(unknown)), C(dane), C(mx_hosts) with their own counts,
      C(protocols), C(ciphers), C(first_seen), C(last_seen), C(tls_deferrals) and at most 3
      C(tls_deferral_samples), the C(policy) in force (C(entry), C(level), C(source)), the C(proposal)
      (C(level) and C(evidence), or C(level) null and C(reason)) and C(problems)
      (C(tls_deferred_forced), C(tls_to_plaintext), C(unused_entry); severity C(warn) or C(fail)).
  returned: always
  type: list
  elements: dict
  sample:
    - destination: example.com
      deliveries: 12
      outcomes: {verified: 12, trusted: 0, untrusted: 0, anonymous: 0, plaintext: 0, unknown: 0}
      dane: 0
      mx_hosts: [{host: mx1.example.com, deliveries: 12, outcomes: {verified: 12, trusted: 0, untrusted: 0, anonymous: 0, plaintext: 0, unknown: 0}}]
      protocols: {TLSv1.3: 12}
      ciphers: {TLS_AES_256_GCM_SHA384: 12}
      first_seen: "2026-12-01T10:00:00+00:00"
      last_seen: "2026-12-04T10:00:00+00:00"
      tls_deferrals: 0
      tls_deferral_samples: []
      policy: {entry: null, level: may, source: smtp_tls_security_level}
      proposal: {level: secure, evidence: "12 deliveries in 3 days, every one Verified, to every MX host seen (1)"}
      problems: []
unused_policy_entries:
  description: Entries of the file-based policy tables that no destination of the log looked up.
  returned: always
  type: list
  elements: dict
  sample: [{key: old-partner.example, table: "hash:/etc/postfix/tls_policy"}]
proposals:
  description: The destinations with a proposal and its level, ready for the tls_forced role.
  returned: always
  type: dict
  sample: {example.com: secure}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host.base import run_module
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.work.advisor import TlsAdvisor


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config_dir=dict(type="path", default="/etc/postfix"),
            paths=dict(type="list", elements="path"),
            since=dict(type="str"),
            until=dict(type="str"),
            min_deliveries=dict(type="int", default=10),
            min_days=dict(type="int", default=3),
            every_mx_seen=dict(type="bool", default=False),
            policy_maps=dict(type="list", elements="str"),
        ),
        supports_check_mode=True,
    )
    run_module(module, TlsAdvisor)


if __name__ == "__main__":
    main()
