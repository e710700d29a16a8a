#!/usr/bin/python
# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: tls_certificate
short_description: Check a server certificate and its private key, and install them together
version_added: 0.1.0
description:
  - Makes sure the certificate Postfix presents (C(smtpd_tls_cert_file)) belongs to its private key
    (C(smtpd_tls_key_file)) before either is used. The certificate must carry the key's public key
    (the SubjectPublicKeyInfo is compared), both must be PEM that openssl can read, and the key must not
    be encrypted (Postfix cannot give a passphrase at startup).
  - With O(cert_content) and O(key_content), writes both files, each only when its bytes change, after
    all checks passed (the checks run in check mode too). Both temporary files are
    written first (created C(0600), given their final mode and owner before the first byte) and then
    renamed over the live files one right after the other, under the lock Postfix's own editor uses.
  - With O(self_signed), generates a key and a self-signed certificate when neither file exists yet (labs
    and tests).
  - With only the paths, checks the existing files and changes nothing.
  - An expired certificate is refused, naming its option; nothing is changed (verifying clients would refuse
    it). One with fewer than 14 days left is a warning giving its days left (certbot and acme.sh renew at
    30 days left, so its renewal has been failing for two weeks).
  - An existing key file that users other than its owner and group can read (or write) is refused in every
    case, naming the file and its mode; nothing is changed.
  - A missing directory is created (the key's C(0700), the certificate's C(0755), missing parents C(0755);
    a directory shared by both is created C(0700)). An existing directory is never changed.
  - A symbolic link, FIFO, socket or device at a path the module would write is refused. When the module
    only reads (paths only), a link is followed as Postfix follows it.
  - The key's content never appears in a result, diff, warning or error.
author:
  - mailtls.postfix developers (@mailtls)
options:
  cert_file:
    description:
      - Path of the certificate file (C(smtpd_tls_cert_file)), PEM. It may hold the chain after the server's
        certificate; the first certificate is the one checked against the key.
      - Required with O(key_file) unless O(chains) is given.
    type: path
  key_file:
    description:
      - Path of the private key file (C(smtpd_tls_key_file)), PEM, not encrypted.
      - It may be O(cert_file) itself, a file holding the key and the certificate (postconf(5)); such a file is
        checked where it is (Postfix reads its one key anywhere and the first certificate as the key's), never
        written.
    type: path
  chains:
    description:
      - Several keys, each with its certificate chain (for example RSA and ECDSA side by side, as
        C(smtpd_tls_chain_files) takes them), instead of O(cert_file) and O(key_file). Each pair is checked
        and installed as the single pair is; two keys of one algorithm are refused, since Postfix uses at
        most one of each (postconf(5), C(smtpd_tls_chain_files)).
      - The module writes the files; setting C(smtpd_tls_chain_files) is M(mailtls.postfix.tls_profile)'s
        (or M(mailtls.postfix.postconf)'s) job.
    type: list
    elements: dict
    suboptions:
      key_file:
        description:
          - The private key file. It may be the O(chains[].cert_file) itself when that file holds the key right
            before its certificate chain (postconf(5), C(smtpd_tls_chain_files)); such a file is checked where it
            is, never written, and named once.
        type: path
        required: true
      cert_file:
        description: The certificate file, the server's certificate first, then its issuers.
        type: path
        required: true
      key_content:
        description: The key (PEM) to write; never logged or returned.
        type: str
      cert_content:
        description: The certificate chain (PEM) to write.
        type: str
  cert_content:
    description:
      - PEM text of the certificate (and its chain) to write to O(cert_file). A final newline is added when
        missing.
      - Requires O(key_content); cannot be combined with O(self_signed). It must not hold a private key.
    type: str
  key_content:
    description:
      - PEM text of the private key to write to O(key_file). Never logged or returned.
      - Requires O(cert_content).
    type: str
  self_signed:
    description:
      - Generate a new key (RSA, 2048 bits) and a self-signed certificate when neither O(cert_file) nor
        O(key_file) exists. When both exist they are checked like existing files; when only one exists
        the module fails.
      - Check mode generates a trial pair to check the arguments, and writes nothing.
    type: bool
    default: false
  self_signed_subject:
    description:
      - Subject of a generated certificate, as C(openssl req -subj) takes it.
      - Defaults to C(/CN=) and the host's fully qualified name.
    type: str
  self_signed_days:
    description: Validity of a generated certificate, in days.
    type: int
    default: 365
  key_mode:
    description:
      - Mode of the key file when the module writes it, as quoted octal text.
      - A mode that grants other users (the last digit) any access is refused.
      - An existing key whose bytes do not change keeps its mode.
    type: raw
    default: "0600"
  key_group:
    description:
      - Group of the key file when the module writes it, by name or number (for example C(ssl-cert) with
        O(key_mode=0640)). Without it a replaced key keeps its group and a new one gets root's.
    type: str
  cert_mode:
    description: Mode of the certificate file when the module writes it, as quoted octal text.
    type: raw
    default: "0644"
  backup:
    description:
      - Keep a time-stamped copy (C(FILE.PID.DATE~)) of each file before it is replaced, as M(mailtls.postfix.postconf)
        keeps one of C(main.cf). The copy of a key is as private as the key.
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - Runs every check (with openssl) and predicts C(changed), C(cert_changed) and C(key_changed);
        writes nothing and creates no directory.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details:
      - The certificate's PEM before and after; for the key only a line saying that it changes.
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: posix
requirements:
  - C(openssl) on the managed host (Debian package C(openssl)).
notes:
  - Run it as root. The files are owned by the user the module runs as.
  - Postfix reads the files when a process starts; notify a reload when RV(changed) is true.
seealso:
  - module: mailtls.postfix.postconf
  - module: mailtls.postfix.tls_probe
  - name: Postfix TLS support
    description: Server-side certificate and key files.
    link: https://www.postfix.org/TLS_README.html#server_cert_key
"""

EXAMPLES = r"""
- name: Install the server certificate and its key (checked to belong together first)
  mailtls.postfix.tls_certificate:
    cert_file: /etc/ssl/certs/mx.example.pem
    key_file: /etc/ssl/private/mx.example.key
    cert_content: "{{ lookup('file', 'mx.example.fullchain.pem') }}"
    key_content: "{{ mx_example_key }}"  # from a vault
    key_mode: "0640"
    key_group: ssl-cert
  register: certificate
  notify: Reload Postfix

- name: Check the pair Let's Encrypt renews, changing nothing
  mailtls.postfix.tls_certificate:
    cert_file: /etc/letsencrypt/live/mx.example/fullchain.pem
    key_file: /etc/letsencrypt/live/mx.example/privkey.pem
  register: certificate

- name: Publish the DANE record of that key
  ansible.builtin.debug:
    msg: "_25._tcp.mx.example. IN TLSA 3 1 1 {{ certificate.certificate.tlsa_3_1_1 }}"

- name: RSA and ECDSA keys side by side, each checked against its chain
  mailtls.postfix.tls_certificate:
    chains:
      - key_file: /etc/postfix/tls/rsa.key
        cert_file: /etc/postfix/tls/rsa.pem
        key_content: "{{ mx_rsa_key }}"
        cert_content: "{{ lookup('file', 'mx.rsa.fullchain.pem') }}"
      - key_file: /etc/postfix/tls/ecdsa.key
        cert_file: /etc/postfix/tls/ecdsa.pem
        key_content: "{{ mx_ecdsa_key }}"
        cert_content: "{{ lookup('file', 'mx.ecdsa.fullchain.pem') }}"

- name: A self-signed pair for a lab host, made once
  mailtls.postfix.tls_certificate:
    cert_file: /etc/ssl/certs/mailtls-smtpd.pem
    key_file: /etc/ssl/private/mailtls-smtpd.key
    self_signed: true
    self_signed_subject: /CN=mx.lab.example
"""

RETURN = r"""
changed:
  description: Whether the certificate file or the key file was (or in check mode would be) written.
  returned: always
  type: bool
cert_changed:
  description: Whether the certificate file was (would be) written.
  returned: always
  type: bool
key_changed:
  description: Whether the key file was (would be) written.
  returned: always
  type: bool
backup_files:
  description:
    - The backup copy of each replaced file, by the file's path, when O(backup=true). A backup is owned as the
      old file was and no more readable than the old file or its replacement.
  returned: changed and O(backup=true)
  type: dict
changed_files:
  description: The files written (or that would be).
  returned: always
  type: list
  elements: str
certificates:
  description:
    - Each pair's certificate, as RV(certificate) describes it, with C(cert_file), C(key_file) and
      C(key_algorithm) (V(rsa), V(ecdsa), V(ed25519), V(ed448)).
  returned: always
  type: list
  elements: dict
certificate:
  description:
    - The server's certificate (the first in O(cert_file), or of the first item of O(chains)).
    - Null in check mode when the pair would be generated (a real run generates another one).
  returned: always
  type: dict
  contains:
    subject:
      description: Subject, as openssl prints it.
      type: str
      sample: CN = mx.example
    issuer:
      description: Issuer, as openssl prints it.
      type: str
    names:
      description: DNS names (subject alternative names, and the common name).
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
      sample: Nov 27 19:17:29 2026 GMT
    days_left:
      description: Whole days until expiry (negative when expired).
      type: int
    expired:
      description: Whether the certificate has expired (the module refuses an expired certificate).
      type: bool
    fingerprint_sha256:
      description: SHA-256 fingerprint of the certificate, as a C(fingerprint) TLS policy's C(match) takes it.
      type: str
      sample: "D7:71:28:E4:FF:AF:6B:27:77:71:E8:F2:EB:47:56:E7:98:1C:06:80:31:CA:20:6E:DC:16:35:0E:FE:CF:10:44"
    tlsa_3_1_1:
      description:
        - SHA-256 of the DER SubjectPublicKeyInfo, in hex - the data of a DANE C(3 1 1) TLSA record.
          It stays the same when the certificate is renewed with the same key.
      type: str
      sample: 8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host.base import private_key_in_arguments, run_module
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.work.certificate import TlsCertificate
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.specs import CERTIFICATE_TOGETHER, certificate_spec


def main():
    module = AnsibleModule(
        argument_spec=dict(certificate_spec(), backup=dict(type="bool", default=False)),
        required_together=CERTIFICATE_TOGETHER,
        supports_check_mode=True,
        # A private key in the arguments (given as a certificate by mistake) stays out of syslog.
        no_log=private_key_in_arguments(),
    )
    run_module(module, TlsCertificate)


if __name__ == "__main__":
    main()
