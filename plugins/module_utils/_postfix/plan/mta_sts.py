# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The receiving side's MTA-STS policy and TLS-RPT record, decided from its options (pure, private).

From ``receiving.mta_sts`` and what the receiving side knows - the host's MX names and the names
of each certificate it may serve for them - the policy file's text, the ``_mta-sts`` and
``_smtp._tls`` records, and the refusals: a policy in ``enforce`` that a sender would fail on
(a pattern covering no MX name, an MX name no pattern covers, a certificate not naming an MX host)
is refused before anything is written; in ``testing`` the same findings are warnings (senders
deliver and report, RFC 8461 section 5).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.errors import InputError
from ..model.mta_sts import (canonical_patterns, check_domain, check_id, check_max_age, check_pattern, covering,
                             policy_id, policy_text, sts_record, tlsrpt_record, tlsrpt_uri, txt_line)
from ..model.tls import TLSRPT_SINCE

OPTION = "receiving.mta_sts"
POLICY_FILE_MODE = 0o644


@dataclass
class StsPlan(object):
    """What the side writes and returns: the policy's text, the records, the result, the warnings."""

    policy: str
    records: list
    result: dict
    warnings: list = field(default_factory=list)


@dataclass
class ServedCertificate(object):
    """A certificate the host may serve for some MX name: where it is named, and its SAN DNS names."""

    where: str
    names: list
    sni_names: list = None  # None: the default certificate, served to every client


def mx_names(spec, default_names):
    """This host's MX names (``mx_names``, else the DANE names, else myhostname) and the domain's other
    MX hosts' (``other_mx_names``), checked, each once."""
    own = [check_domain(name, OPTION + ".mx_names") for name in spec["mx_names"] or default_names]
    other = [check_domain(name, OPTION + ".other_mx_names") for name in spec["other_mx_names"]]
    return list(dict.fromkeys(own)), [name for name in dict.fromkeys(other) if name not in own]


def coverage_problems(patterns, own, other, certificates):
    """What a sender would fail on, each said with the option to change (RFC 8461 sections 4.1, 4.2)."""
    problems = []
    for pattern in patterns:
        if not any(covering([pattern], name) for name in own + other):
            problems.append("%s.mx: the pattern %s covers no MX name (%s); a sender accepts only MX hosts a pattern "
                            "matches (RFC 8461 section 4.1)" % (OPTION, pattern, ", ".join(own + other)))
    for name in own + other:
        if not covering(patterns, name):
            problems.append("%s.mx: no pattern covers the MX name %s; a sender in enforce would not deliver to it "
                            "(RFC 8461 section 4.1)" % (OPTION, name))
    if own and not any(certificate.sni_names is None for certificate in certificates):
        problems.append("%s: this call knows no certificate its server serves, so none was checked against the MX "
                        "names; give certificate (certificate.keep: true checks the one main.cf names)" % OPTION)
    for name in own:
        for certificate in served_for(certificates, name):
            if not covering(certificate.names, name):
                problems.append("%s: the certificate of %s names %s in its subjectAltName, not the MX name %s; a "
                                "sender in enforce would refuse it (RFC 8461 section 4.2)"
                                % (OPTION, certificate.where, ", ".join(certificate.names) or "nothing", name))
    return problems


def served_for(certificates, name):
    """The certificates a client may get when it connects to ``name``: every default one, and an SNI
    one whose names cover it (postconf(5), tls_server_sni_maps: ``.domain`` for its subdomains)."""
    found = []
    for certificate in certificates:
        if certificate.sni_names is None:
            found.append(certificate)
        elif any(sni == name or (sni.startswith(".") and name.endswith(sni)) for sni in certificate.sni_names):
            found.append(certificate)
    return found


def plan_sts(spec, domains, own, other, certificates):
    """The policy, the records and the result; InputError for what ``enforce`` refuses.

    ``spec`` is ``receiving.mta_sts``; ``domains`` the policy domains (checked here); ``own`` this
    host's MX names, ``other`` the domain's other MX hosts; ``certificates`` the ServedCertificates.
    """
    mode = spec["mode"]
    max_age = check_max_age(spec["max_age"], OPTION + ".max_age")
    domains = list(dict.fromkeys(check_domain(name, OPTION + ".domains") for name in domains))
    patterns = canonical_patterns(check_pattern(pattern, "%s.mx[%d]" % (OPTION, index))
                                  for index, pattern in enumerate(spec["mx"] or own + other))
    problems = coverage_problems(patterns, own, other, certificates) if mode != "none" else []
    if mode == "enforce" and problems:
        raise InputError(OPTION + ".mode", "enforce refused, nothing was written: " + "; ".join(problems))
    text = policy_text(mode, patterns, max_age)
    given_id = spec.get("id")
    sts_id = check_id(given_id, OPTION + ".id") if given_id else policy_id(text)
    rua = [tlsrpt_uri(uri, "%s.tlsrpt_rua[%d]" % (OPTION, index)) for index, uri in enumerate(spec["tlsrpt_rua"])]
    records = []
    for domain in domains:
        records.append(txt_line("_mta-sts." + domain, sts_record(sts_id)))
        if rua:
            records.append(txt_line("_smtp._tls." + domain, tlsrpt_record(rua)))
    result = {"mode": mode, "mx": patterns, "max_age": max_age, "id": sts_id, "id_derived": not given_id,
              "domains": domains, "mx_names": own, "other_mx_names": other, "policy": text,
              "policy_urls": ["https://mta-sts.%s/.well-known/mta-sts.txt" % domain for domain in domains],
              "sts_record": sts_record(sts_id), "tlsrpt_record": tlsrpt_record(rua) if rua else None,
              "records": records}
    warnings = ["%s (mode %s: senders deliver and report)" % (problem, mode) for problem in problems]
    return StsPlan(policy=text, records=records, result=result, warnings=warnings)


def sending_tlsrpt(version, enable=None, socket_name=None, problem=None):
    """What this host's own sending side does about TLS-RPT, from main.cf as this call leaves it (``enable``:
    smtp_tlsrpt_enable, ``socket_name``: smtp_tlsrpt_socket_name; None: not set; ``problem``: why smtp would not
    report with them, model/tls.py tlsrpt_problem). Said in the result, never a parameter written that this
    Postfix would reject. postconf(5): smtp_tlsrpt_enable came with Postfix 3.10, for a build with libtlsrpt;
    the role's tls_forced_tlsrpt_socket turns it on."""
    release = ".".join(str(part) for part in version)
    if tuple(version) < TLSRPT_SINCE:
        return {"enabled": False, "reason": "Postfix %s has no smtp_tlsrpt_enable (Postfix 3.10 or later, built with "
                                            "libtlsrpt): this host's sending side does not report; nothing was "
                                            "written for it" % release}
    if (enable or "").strip().lower() == "yes":
        if problem or not (socket_name or "").strip():
            return {"enabled": False, "reason": "smtp_tlsrpt_enable = yes, but smtp does not report: %s"
                                                % (problem or "smtp_tlsrpt_socket_name is empty")}
        return {"enabled": True, "reason": "smtp_tlsrpt_enable = yes: this host's smtp reports the outcome of each "
                                           "TLS session with a DANE or MTA-STS destination to the TLSRPT collector "
                                           "at %s (TLSRPT_README)" % socket_name.strip()}
    return {"enabled": False, "reason": "Postfix %s knows smtp_tlsrpt_enable, which needs a build with libtlsrpt and "
                                        "a TLSRPT collector on this host (TLSRPT_README); off here "
                                        "(mailtls.postfix.tls_forced: tls_forced_tlsrpt_socket)" % release}


def records_text(records):
    """The records file: zone-file lines, like the DANE records file."""
    return "; MTA-STS and TLS-RPT records of this host's mail domains, written by mailtls.postfix\n" + \
        "\n".join(records) + "\n"
