#!/usr/bin/python
# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: tls_posture
short_description: What a Postfix host's TLS really does - listeners, protocols, certificates, DANE, policy
version_added: 0.2.0
description:
  - Reads one Postfix instance in one call and changes nothing. Probes every enabled inet C(smtpd)
    (or C(postscreen)) listener of C(master.cf) with the real C(openssl s_client) against the host
    itself (C(-starttls smtp), or TLS from the first byte in wrapper mode), all probes at once, each
    with a timeout.
  - For each listener, whether STARTTLS is offered, the protocol and cipher Postfix negotiates,
    which of TLSv1, TLSv1.1, TLSv1.2 and TLSv1.3 it accepts, and the certificates it serves (one
    per key type; names, issuer, chain length, key algorithm and size, expiry and days left,
    and the DANE C(3 1 1) digest of the key).
  - Compares the DANE C(3 1 1) records of O(dane_files) (the zone file the
    M(mailtls.postfix.tls_profile) receiving side writes, C(tls_receiving_tlsa_file)) with the
    served keys; names the hardening profile main.cf matches; lists the sending side's policy
    entries with their levels, and the relay's level.
  - With O(advisor), also reads the host's mail log in the same call, as M(mailtls.postfix.tls_advisor)
    does (the same reader, options and answer, in RV(advisor)), and judges its deliveries - a forced
    destination with plaintext deliveries or TLS deferrals is a V(fail) finding.
  - Returns the findings of the host alone (severity V(ok), V(warn) or V(fail), each with a
    one-line fix); C(playbooks/tls_report.yml) renders a fleet's results as one HTML page,
    JSON and Prometheus text files (docs/tls-report.md), one tls_posture call per host.
author:
  - mailtls.postfix developers (@mailtls)
options:
  timeout:
    description: Seconds each TLS handshake may take (1 to 600).
    type: int
    default: 10
  probe_address:
    description:
      - The address to connect to for a listener without an address of its own (C(smtp inet ...)).
      - By default the loopback address of a protocol Postfix listens on, else its first C(inet_interfaces) address.
    type: str
  dane_files:
    description:
      - Zone files holding this host's DANE TLSA records (C(_25._tcp.mx.example. IN TLSA 3 1 1 <hex>));
        only C(3 1 1) records are compared. A symbolic link, a FIFO or a missing file is refused.
    type: list
    elements: path
    default: []
  advisor:
    description:
      - Read the host's mail log too, as M(mailtls.postfix.tls_advisor) reads it, after the probes; its
        answer is RV(advisor), and its destinations are judged in RV(findings). Not given - the log is not read.
      - V({}) reads the files Postfix logs to (rotated and C(.gz) ones included, or the journal) with
        tls_advisor's defaults. Errors name the option as C(advisor.paths[0]).
    type: dict
    suboptions:
      paths:
        description: Log files to read, in this order, as tls_advisor's O(mailtls.postfix.tls_advisor#module:paths).
        type: list
        elements: path
      since:
        description: Only lines at or after this time, as tls_advisor's O(mailtls.postfix.tls_advisor#module:since).
        type: str
      until:
        description: Only lines at or before this time, as C(since) takes it.
        type: str
      min_deliveries:
        description: Fewest delivered messages a destination needs for a proposal.
        type: int
        default: 10
      min_days:
        description: Fewest days between a destination's first and last line for a proposal.
        type: int
        default: 3
      policy_maps:
        description:
          - The TLS policy tables to look destinations up in, in order; default - the host's C(smtp_tls_policy_maps).
        type: list
        elements: str
extends_documentation_fragment:
  - mailtls.postfix.common.config_dir
  - mailtls.postfix.common.read_only
requirements:
  - Postfix (C(postconf)) and C(openssl) on the managed host.
seealso:
  - module: mailtls.postfix.tls_advisor
  - module: mailtls.postfix.tls_probe
  - module: mailtls.postfix.postfix_info
"""

EXAMPLES = r"""
- name: Read this host's TLS posture
  mailtls.postfix.tls_posture:
    dane_files: [/etc/postfix/tlsa.zone]
  register: posture

- name: The posture and what the last 30 days of the mail log say, in one call
  mailtls.postfix.tls_posture:
    advisor:
      since: 30d
  register: posture_and_log

- name: Stop on a failure
  ansible.builtin.assert:
    that: posture.findings | selectattr('severity', 'equalto', 'fail') | list | length == 0
    fail_msg: "{{ posture.findings | selectattr('severity', 'equalto', 'fail') | map(attribute='message') | list }}"
"""

RETURN = r"""
hostname:
  description: C(myhostname).
  returned: always
  type: str
  sample: mx.example.org
version:
  description: C(mail_version).
  returned: always
  type: str
  sample: 3.7.11
listeners:
  description:
    - Each enabled inet SMTP listener, by port then address. C(role) is V(mx) (opportunistic, port 25's role),
      V(submission) (TLS required) or V(smtps) (wrapper mode).
    - C(protocols) maps each probed protocol version to whether a handshake with it alone succeeded.
  returned: always
  type: list
  elements: dict
  sample:
    - address: 127.0.0.1
      port: 25
      role: mx
      wrappermode: false
      starttls: true
      established: true
      protocol: TLSv1.3
      cipher: TLS_AES_256_GCM_SHA384
      protocols: {TLSv1: true, TLSv1.1: true, TLSv1.2: true, TLSv1.3: true}
      certificates:
        - names: [mx.example.org]
          issuer: C = US, O = Let's Encrypt, CN = R11
          not_after: Mar  1 12:00:00 2027 GMT
          days_left: 89
          chain_length: 2
          key_algorithm: rsa
          key_bits: 2048
          tlsa_3_1_1: 0f4c...
protocols_probed:
  description: The protocol versions each listener was probed with.
  returned: always
  type: list
  elements: str
dane:
  description: The files read and their C(3 1 1) records, each with C(matches) (a served key has its digest).
  returned: always
  type: dict
hardening:
  description: The hardening profile main.cf matches (V(postfix_default), V(intermediate), V(modern) or V(custom)),
    and for V(custom) the parameters that differ from V(intermediate).
  returned: always
  type: dict
  sample: {profile: intermediate, differences: {}}
sending:
  description:
    - C(security_level) (smtp_tls_security_level), C(relay) (C(nexthop), C(level), C(source), C(state)) when
      relayhost is set, C(policy) (every entry of smtp_tls_policy_maps with its level and table; C(shadowed) when
      an earlier table decides it) and C(tables) (each table, whether it exists and its index is fresh).
  returned: always
  type: dict
advisor:
  description:
    - What tls_advisor returns for the same options - C(files), C(window), C(destinations),
      C(unused_policy_entries) and C(proposals) (see M(mailtls.postfix.tls_advisor)).
  returned: when O(advisor) is given
  type: dict
  sample: {files: [{path: /var/log/mail.log, lines: 81234, skipped: 0}], window: {}, destinations: [],
           unused_policy_entries: [], proposals: {}}
findings:
  description: The host's findings, worst first; each has C(severity), C(code), C(subject), C(message) and C(fix).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host.base import run_module
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.work.posture import TlsPosture


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config_dir=dict(type="path", default="/etc/postfix"),
            timeout=dict(type="int", default=10),
            probe_address=dict(type="str"),
            dane_files=dict(type="list", elements="path", default=[]),
            advisor=dict(type="dict", options=dict(
                paths=dict(type="list", elements="path"),
                since=dict(type="str"),
                until=dict(type="str"),
                min_deliveries=dict(type="int", default=10),
                min_days=dict(type="int", default=3),
                policy_maps=dict(type="list", elements="str"),
            )),
        ),
        supports_check_mode=True,
    )
    run_module(module, TlsPosture)


if __name__ == "__main__":
    main()
