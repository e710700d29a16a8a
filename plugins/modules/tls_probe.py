#!/usr/bin/python
# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: tls_probe
short_description: See what TLS a mail destination offers, the way Postfix would connect to it
version_added: 0.1.0
description:
  - Connects to a destination with C(posttls-finger) from the Postfix package, as the Postfix
    SMTP client would (MX lookup for a domain, the given host for C([host]:port)), and reports
    whether STARTTLS is offered, the protocol and cipher negotiated, the server certificate's
    names, issuer and expiry, and whether the destination would pass the C(encrypt), C(verify)
    and C(secure) policy levels.
  - Read-only and safe in check mode. Use it before forcing TLS to a destination, so mail to it
    never waits in the queue for a server that cannot do TLS.
author:
  - mailtls.postfix developers (@mailtls)
options:
  destination:
    description:
      - The destination as a TLS policy names it (C(example.com), C([mx.example.com]:587)).
      - It also decides the names C(verify) (C(hostname)) and C(secure) (C(nexthop:dot-nexthop))
        accept, as in Postfix's defaults.
    type: str
    required: true
  host:
    description:
      - Connect to this host (a host name, IPv4 or IPv6 address) instead of looking the destination up.
    type: str
  port:
    description:
      - The port to connect to. Without it, the port in O(destination) (C([mx.example.com]:587)), else 25.
      - Given both here and in O(destination), the two must be the same port.
    type: int
  ca_path:
    description: Trusted CA directory for C(verify) and C(secure).
    type: path
    default: /etc/ssl/certs
  ca_file:
    description: Trusted CA file for C(verify) and C(secure), in addition to O(ca_path).
    type: path
  wrappermode:
    description:
      - Speak TLS from the first byte (SMTPS, the submissions port 465) instead of STARTTLS, as the
        Postfix SMTP client does with C(smtp_tls_wrappermode = yes) (posttls-finger's C(-w)).
      - The result's RV(starttls) is then V(false), since no STARTTLS is offered or needed.
    type: bool
    default: false
  helo:
    description:
      - The domain name to send in EHLO (posttls-finger's C(-o myhostname=)); defaults to the host's
        C(myhostname).
    type: str
  host_lookup:
    description:
      - How host names are looked up, as C(smtp_host_lookup) - V(dns) like the Postfix SMTP client's
        default, V(native) for the system resolver (C(/etc/hosts) included).
    type: str
    choices: [dns, native, "dns, native"]
    default: dns
  timeout:
    description: Seconds to wait for each connection and each SMTP command, from 1 to 600.
    type: int
    default: 30
extends_documentation_fragment:
  - mailtls.postfix.common.read_only
requirements:
  - C(posttls-finger) (Debian package C(postfix)) and C(openssl) on the host that probes.
seealso:
  - module: mailtls.postfix.tls_policy
  - name: posttls-finger(1)
    description: The probe this module runs.
    link: https://www.postfix.org/posttls-finger.1.html
"""

EXAMPLES = r"""
- name: Can partner.example take forced TLS?
  mailtls.postfix.tls_probe:
    destination: partner.example
  register: probe

- name: Only force TLS where the destination can take it
  mailtls.postfix.tls_policy:
    destination: partner.example
    level: encrypt
  when: probe.passes.encrypt
"""

RETURN = r"""
target:
  description: What posttls-finger connected to.
  returned: always
  type: str
  sample: "[mx.partner.example]:25"
starttls:
  description:
    - Whether the server offered STARTTLS, as a C(STARTTLS) keyword line of its EHLO reply (or a
      TLS session was established). Text elsewhere in what the server sends never counts.
  returned: always
  type: bool
wrappermode:
  description: Whether the probe spoke SMTPS (O(wrappermode)).
  returned: always
  type: bool
  sample: false
established:
  description: Whether a TLS session was established.
  returned: always
  type: bool
trust:
  description:
    - Postfix's verdict on the peer (V(Anonymous), V(Untrusted), V(Trusted), V(Verified)), or null.
    - Read only from the line posttls-finger itself writes for an established session, never from
      the server's replies.
  returned: always
  type: str
  sample: Untrusted
peer:
  description: The server posttls-finger reached, name[address]:port.
  returned: always
  type: str
  sample: mx.partner.example[192.0.2.25]:25
protocol:
  description: The TLS protocol negotiated.
  returned: always
  type: str
  sample: TLSv1.3
cipher:
  description: The cipher negotiated.
  returned: always
  type: str
  sample: TLS_AES_256_GCM_SHA384
certificate:
  description: The server's leaf certificate, or null without TLS.
  returned: always
  type: dict
  contains:
    subject:
      description: Subject.
      type: str
    issuer:
      description: Issuer.
      type: str
    names:
      description:
        - Valid DNS names among the subject alternative names, and the common name (its CN attribute).
        - A subject alternative name openssl does not print whole (one holding a newline) is left out.
      type: list
      elements: str
    san_names:
      description:
        - The DNS names among the subject alternative names alone - what a client matching RFC 6125 (an MTA-STS
          sender, RFC 8461 section 4.2) checks when there are any; a common name alone is not among them.
      type: list
      elements: str
    not_after:
      description: Expiry, as openssl prints it.
      type: str
    days_left:
      description: Whole days until expiry (negative when expired).
      type: int
    expired:
      description: Whether the certificate has expired.
      type: bool
    fingerprint_sha256:
      description: SHA-256 fingerprint, as a C(fingerprint) policy's C(match) takes it.
      type: str
    pem:
      description: The certificate.
      type: str
passes:
  description: Whether mail to the destination would go out at each policy level.
  returned: always
  type: dict
  sample: {may: true, encrypt: true, verify: false, secure: false}
dnssec_validation:
  description:
    - Whether the host's resolver validates DNSSEC, as posttls-finger's probe of it found
      (DANE needs it); null when it did not probe (no DNS lookups, or nothing to report).
  returned: always
  type: bool
errors:
  description:
    - The failures posttls-finger reported in its own messages (connection, greeting, EHLO or STARTTLS
      rejected, certificate verification), in its words; a rejection quotes the server's reply.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host.base import run_module
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.work.probe import TlsProbe


def main():
    module = AnsibleModule(
        argument_spec=dict(
            destination=dict(type="str", required=True),
            host=dict(type="str"),
            port=dict(type="int"),
            ca_path=dict(type="path", default="/etc/ssl/certs"),
            ca_file=dict(type="path"),
            wrappermode=dict(type="bool", default=False),
            helo=dict(type="str"),
            host_lookup=dict(type="str", default="dns", choices=["dns", "native", "dns, native"]),
            timeout=dict(type="int", default=30),
        ),
        supports_check_mode=True,
    )
    run_module(module, TlsProbe)


if __name__ == "__main__":
    main()
