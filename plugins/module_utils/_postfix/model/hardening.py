# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""TLS hardening profiles: protocol and cipher floors for main.cf, planned (private).

Pure: no Ansible, no I/O. A profile is a named choice of the protocols, cipher grades and
cipher exclusions of the three sides of a mail server:

- the receiving side with opportunistic TLS (port 25, ``smtpd_tls_security_level = may``):
  ``smtpd_tls_protocols``, ``smtpd_tls_ciphers`` and ``smtpd_tls_exclude_ciphers`` (the
  exclusions apply at every level);
- the receiving side with mandatory TLS (submission, and any smtpd at level ``encrypt``):
  ``smtpd_tls_mandatory_*``;
- the sending side: ``smtp_tls_*`` (opportunistic, level ``may``) and ``smtp_tls_mandatory_*``
  (levels ``encrypt`` and stronger, DANE and MTA-STS destinations included).

Sources: postconf(5) for each parameter, Postfix's TLS_README ("Opportunistic TLS", on both
the server and the client side), Mozilla's Server Side TLS guidance (its "intermediate" and
"modern" configurations and their Postfix template in ssl-config-generator) and RFC 8996
(TLS 1.0 and 1.1 deprecated). docs/hardening.md gives the reasoning and what the live tests
measured.

The one rule the profiles never break: opportunistic TLS is never stricter than mandatory
TLS. With opportunistic TLS the alternative to a weak handshake is no TLS at all: postconf(5)
says of level ``may`` that demanding stronger than default TLS security merely reduces
interoperability, and a Postfix client retries a failed opportunistic handshake in plaintext
(other MTAs may instead defer the mail).
"""

from __future__ import annotations

from ..core.errors import InputError

HARDENING_PROFILES = ("postfix_default", "intermediate", "modern")

# Every main.cf parameter a profile owns. Each profile sets or removes each of them, so that a
# switch of profile leaves nothing of the previous one behind.
HARDENING_PARAMETERS = (
    "smtpd_tls_protocols",
    "smtpd_tls_ciphers",
    "smtpd_tls_exclude_ciphers",
    "smtpd_tls_mandatory_protocols",
    "smtpd_tls_mandatory_ciphers",
    "smtpd_tls_mandatory_exclude_ciphers",
    "smtp_tls_protocols",
    "smtp_tls_ciphers",
    "smtp_tls_exclude_ciphers",
    "smtp_tls_mandatory_protocols",
    "smtp_tls_mandatory_ciphers",
    "smtp_tls_mandatory_exclude_ciphers",
    "tls_preempt_cipherlist",
    "tls_ssl_options",
)

# The protocol names of postconf(5), oldest first.
PROTOCOLS = ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
# postconf(5) smtpd_tls_protocols: ">=version" bounds exist as of Postfix 3.6; older releases
# (3.5 = Debian 11) know only the "!protocol" exclusion form.
BOUNDS_SYNTAX_SINCE = (3, 6)
# Postfix 3.8 (changelog 20230303) excludes these from its compiled-in cipher grades itself:
# deprecated or unused ciphers, the MD5 digest, static DH/ECDH key exchange and DSS keys.
# Older releases need them as exclusions to reach the same lists.
UPSTREAM_LEGACY_EXCLUSIONS_SINCE = (3, 8)
LEGACY_EXCLUSIONS = ("SEED", "IDEA", "3DES", "RC2", "RC4", "RC5", "MD5", "kDH", "kECDH", "aDSS")
# Mozilla's "intermediate" TLS 1.2 cipher suites, from the "high" grade: forward secrecy
# (no kRSA) and AEAD only (no CBC with SHA1/SHA256/SHA384 MACs), without the AEAD ciphers
# Mozilla leaves out (ARIA, AES-CCM), pre-shared keys, DSS and anonymous ciphers. With the
# OpenSSL of Debian 11, 12 and 13 this leaves exactly ECDHE-{ECDSA,RSA} and DHE-RSA with
# AES-GCM or ChaCha20-Poly1305. TLS 1.3 suites are not affected: OpenSSL sets them apart.
FORWARD_SECRET_AEAD_EXCLUSIONS = ("aNULL", "kRSA", "SHA1", "SHA256", "SHA384", "ARIA", "AESCCM", "PSK",
                                  "aDSS")


def protocol_floor(lowest, version):
    """A protocols value accepting ``lowest`` and every newer protocol, in the version's syntax."""
    if lowest not in PROTOCOLS:
        raise InputError("hardening", "%r is not a TLS protocol name (%s)" % (lowest, ", ".join(PROTOCOLS)))
    if tuple(version) >= BOUNDS_SYNTAX_SINCE:
        return ">=" + lowest
    return ", ".join("!" + name for name in PROTOCOLS[:PROTOCOLS.index(lowest)])


def _exclusions(*groups):
    names = []
    for group in groups:
        names.extend(name for name in group if name not in names)
    return ", ".join(names)


def _postfix_default(version):
    # Everything to postconf -d: ">=TLSv1" (3.6+) or "!SSLv2, !SSLv3" (3.5), grade "medium",
    # no exclusions, client cipher order, no extra OpenSSL options.
    return {}


def _intermediate(version):
    legacy = () if tuple(version) >= UPSTREAM_LEGACY_EXCLUSIONS_SINCE else LEGACY_EXCLUSIONS
    return {
        # Port 25: TLS 1.0 and newer, Postfix's own floor since 3.6 (3.5 written in its syntax);
        # the alternative is plaintext (TLS_README "Server-side cipher controls").
        "smtpd_tls_protocols": protocol_floor("TLSv1", version),
        # postconf(5) smtpd_tls_ciphers: "medium" is the default and interoperates with every MTA.
        "smtpd_tls_ciphers": "medium",
        # What Postfix 3.8 and later exclude at every level anyway (changelog 20230303).
        "smtpd_tls_exclude_ciphers": _exclusions(legacy),
        # Submission faces MUAs, Mozilla's audience: its intermediate floor, TLS 1.2 (RFC 8996).
        "smtpd_tls_mandatory_protocols": protocol_floor("TLSv1.2", version),
        # "high" plus the exclusions below is Mozilla intermediate's TLS 1.2 cipher list.
        "smtpd_tls_mandatory_ciphers": "high",
        # Forward secrecy and AEAD only; aNULL as postconf(5) smtpd_tls_mandatory_ciphers shows.
        "smtpd_tls_mandatory_exclude_ciphers": _exclusions(FORWARD_SECRET_AEAD_EXCLUSIONS),
        # Opportunistic delivery: postconf(5) smtp_tls_security_level "may" - stronger than
        # default merely reduces interoperability; Postfix retries a failed handshake in plaintext.
        "smtp_tls_protocols": protocol_floor("TLSv1", version),
        "smtp_tls_ciphers": "medium",
        "smtp_tls_exclude_ciphers": _exclusions(legacy),
        # Mandatory delivery (encrypt, DANE, MTA-STS) to servers we do not run: TLS 1.2 (RFC 8996)
        # but Postfix's "medium" grade (postconf(5) smtp_tls_mandatory_ciphers: "high" is
        # counter-productive); a failed mandatory handshake defers the mail, it never falls back.
        "smtp_tls_mandatory_protocols": protocol_floor("TLSv1.2", version),
        "smtp_tls_mandatory_ciphers": "medium",
        "smtp_tls_mandatory_exclude_ciphers": "",
        # Mozilla intermediate: every offered cipher is strong, so the client picks (e.g. ChaCha20
        # on CPUs without AES-NI); postconf(5) tls_preempt_cipherlist warns of interop risks.
        "tls_preempt_cipherlist": "no",
        # postconf(5) tls_ssl_options: NO_RENEGOTIATION (Postfix 3.4+) removes a CPU-exhaustion
        # lever SMTP never needs; NO_COMPRESSION rules out compression before encryption (CRIME).
        "tls_ssl_options": "NO_COMPRESSION, NO_RENEGOTIATION",
    }


def _modern(version):
    parameters = _intermediate(version)
    parameters.update({
        # Port 25 raised to TLS 1.2 (RFC 8996, Mozilla intermediate), never to TLS 1.3 only:
        # a sender without TLS 1.3 would then deliver in plaintext or not at all.
        "smtpd_tls_protocols": protocol_floor("TLSv1.2", version),
        "smtp_tls_protocols": protocol_floor("TLSv1.2", version),
        # Submission: Mozilla modern, TLS 1.3 only (its MUAs are the clients Mozilla targets).
        "smtpd_tls_mandatory_protocols": protocol_floor("TLSv1.3", version),
        # Mandatory delivery stays at TLS 1.2: many receiving MTAs have no TLS 1.3 yet, and a
        # refused mandatory handshake defers the mail. Mozilla intermediate's ciphers instead.
        "smtp_tls_mandatory_ciphers": "high",
        "smtp_tls_mandatory_exclude_ciphers": _exclusions(FORWARD_SECRET_AEAD_EXCLUSIONS),
    })
    return parameters


_PLANS = {"postfix_default": _postfix_default, "intermediate": _intermediate, "modern": _modern}


def hardening_plan(profile, version):
    """``(parameters, absent)`` of a profile on a Postfix version (a tuple of ints, e.g. (3, 7, 11)).

    ``parameters`` maps main.cf names to the values to set; ``absent`` lists, in
    HARDENING_PARAMETERS order, the names to remove so that Postfix's own default applies.
    """
    if not isinstance(profile, str) or profile not in _PLANS:
        raise InputError("hardening", "unknown profile %r; choose one of %s" % (profile, ", ".join(HARDENING_PROFILES)))
    if not isinstance(version, (tuple, list)) or len(version) < 2 or not all(
            isinstance(part, int) and not isinstance(part, bool) for part in version):
        raise InputError("hardening", "the Postfix version must be a tuple of integers, not %r" % (version,))
    # An empty value is the default of every exclusion list: removing it says so more plainly.
    parameters = dict((name, value) for name, value in _PLANS[profile](tuple(version)).items() if value != "")
    absent = [name for name in HARDENING_PARAMETERS if name not in parameters]
    return parameters, absent


def _list_words(value):
    """A protocols, exclusions or options value as Postfix reads it: a set of words, whatever separators and order."""
    return sorted(set((value or "").replace(",", " ").replace(":", " ").split()))


def profile_in_force(effective, defaults, version):
    """``(profile, differences)``: the hardening profile main.cf's effective values match.

    ``effective`` and ``defaults`` map HARDENING_PARAMETERS to ``postconf`` and ``postconf -d``
    values. A profile matches when every parameter it sets has its value and every one it
    leaves to Postfix has Postfix's default. No match: ``("custom", {name: (value, intermediate's)})``.
    """
    for name in HARDENING_PROFILES:
        parameters, _absent = hardening_plan(name, version)
        wanted = dict((key, parameters.get(key, defaults.get(key, ""))) for key in HARDENING_PARAMETERS)
        if all(_list_words(effective.get(key)) == _list_words(value) for key, value in wanted.items()):
            return name, {}
    parameters, _absent = hardening_plan("intermediate", version)
    differences = {}
    for key in HARDENING_PARAMETERS:
        expected = parameters.get(key, defaults.get(key, ""))
        if _list_words(effective.get(key)) != _list_words(expected):
            differences[key] = (effective.get(key, ""), expected)
    return "custom", differences
