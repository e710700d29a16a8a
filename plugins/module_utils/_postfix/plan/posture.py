# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A host's TLS posture and its findings, pure (private to the collection).

What tls_posture probes (the jobs), the facts of each listener from its probes, the sending
side from main.cf and the policy tables, and the findings: each one a severity (ok, warn,
fail), what it is about, a message and a one-line fix. The fleet report (controller side)
calls ``findings_of`` again with the tls_advisor's output of the host.

Port 25 is judged as opportunistic SMTP: TLS_README ("Server-side TLS activity", "Opportunistic
TLS") and postconf(5) smtpd_tls_security_level = may: a sender that cannot negotiate the
protocols offered delivers in plaintext, so refusing old protocols there protects no one.
postconf(5) smtpd_tls_protocols has accepted TLSv1 and newer by default since Postfix 3.6.
Submission (587, level encrypt) and SMTPS (465, wrapper mode) face mail clients that must use
TLS: postconf(5) smtpd_tls_mandatory_protocols, where TLSv1 and TLSv1.1 are deprecated (RFC 8996).
"""

from __future__ import annotations

from ..model.served_tls import LEGACY_CLIENT_CIPHERS, PROBED_PROTOCOLS
from ..model.tls import forces
from .advice import counted

SEVERITIES = ("fail", "warn", "ok")
EXPIRY_FAIL_DAYS, EXPIRY_WARN_DAYS = 7, 30
LEGACY_PROTOCOLS = ("TLSv1", "TLSv1.1")
# A client limited to one key type gets that certificate (smtpd_tls_chain_files may hold an RSA and an ECDSA key).
_KEY_SIGALGS = (("rsa", "rsa_pss_rsae_sha256:RSA+SHA256"), ("ecdsa", "ECDSA+SHA256:ECDSA+SHA384"))
_OPPORTUNISTIC_WHY = ("opportunistic SMTP (level may): a sender that cannot use the protocols offered delivers in "
                      "plaintext instead (TLS_README 'Opportunistic TLS'; postconf(5) smtpd_tls_protocols "
                      "defaults to >=TLSv1 since Postfix 3.6)")


def protocol_jobs(listener):
    """The s_client handshakes of a listener: Postfix's own choice, then one per protocol version."""
    address, port, wrapper = listener[:3]
    jobs = [(address, port, wrapper, (), "default")]
    for name, flag in PROBED_PROTOCOLS:
        extra = (flag, "-cipher", LEGACY_CLIENT_CIPHERS) if name in LEGACY_PROTOCOLS else (flag,)
        jobs.append((address, port, wrapper, extra, name))
    return jobs


def certificate_jobs(listener):
    address, port, wrapper = listener[:3]
    return [(address, port, wrapper, ("-sigalgs", sigalgs), kind) for kind, sigalgs in _KEY_SIGALGS]


def listener_role(port, wrapper, options, main_level):
    """mx (opportunistic, port 25's role), submission (TLS required) or smtps (TLS from the first byte)."""
    if wrapper:
        return "smtps"
    level = options.get("smtpd_tls_security_level", main_level).strip().lower()
    return "submission" if level == "encrypt" or port == 587 else "mx"


def listener_facts(listeners, probes, offers, certificates, turned_off, main_level="may"):
    """Each listener's facts from its probes (keyed by job), its EHLO's STARTTLS (keyed by (address, port);
    none in wrapper mode) and the served certificates (keyed by PEM)."""
    facts = []
    for listener in listeners:
        address, port, wrapper, options = listener
        by_kind = dict((job[4], result) for job, result in probes.items() if job[:3] == (address, port, wrapper))
        default = by_kind.get("default") or {"established": False, "error": "not probed"}
        served, seen = [], set()
        for kind in ("default",) + tuple(kind for kind, _sigalgs in _KEY_SIGALGS):
            chain = (by_kind.get(kind) or {}).get("chain") or []
            if chain and chain[0] not in seen:
                seen.add(chain[0])
                served.append(dict(certificates.get(chain[0]) or {}, chain_length=len(chain)))
        facts.append({
            "address": address, "port": port, "wrappermode": wrapper,
            "role": listener_role(port, wrapper, options, main_level),
            "tls_turned_off_by": turned_off.get((address, port)),
            "starttls": None if wrapper else offers.get((address, port)), "established": default["established"],
            "protocol": default.get("protocol"), "cipher": default.get("cipher"), "error": default.get("error"),
            "protocols": dict((name, (by_kind.get(name) or {}).get("established", False))
                              for name, _flag in PROBED_PROTOCOLS),
            "certificates": sorted(served, key=lambda item: (item.get("key_algorithm") or "", item.get(
                "fingerprint_sha256") or "")),
        })
    return facts


def sending_side(values, tables):
    """The sending side: main.cf's level, the relay and its level, every policy entry with its level."""
    entries, decided = [], set()
    for table in tables:
        for key, value in table["entries"]:
            level = (value.split() or [""])[0].lower()
            entries.append({"destination": key, "level": level, "table": table["table"],
                            "forced": forces(value), "shadowed": key in decided})
            decided.add(key)
    default_level = values.get("smtp_tls_security_level") or "none"
    relay = None
    relayhost = values.get("relayhost") or ""
    if relayhost:
        entry = next((item for item in entries if item["destination"] == relayhost and not item["shadowed"]), None)
        relay = {"nexthop": relayhost, "level": entry["level"] if entry else default_level,
                 "source": entry["table"] if entry else "smtp_tls_security_level",
                 "state": "forced" if forces(entry["level"] if entry else default_level) else "opportunistic"
                 if (entry["level"] if entry else default_level) == "may" else "plaintext"}
    return {"security_level": default_level, "relay": relay, "policy": entries,
            "tables": [dict((key, table[key]) for key in ("table", "exists", "index_fresh")) for table in tables]}


def _finding(severity, code, subject, message, fix):
    return {"severity": severity, "code": code, "subject": subject, "message": message, "fix": fix}


def _where(listener):
    return "%s:%d (%s)" % (listener["address"], listener["port"], listener["role"])


def listener_findings(listener):
    found, where = [], _where(listener)
    if listener["role"] == "mx" and not (listener["established"] and listener["starttls"]):
        if listener["tls_turned_off_by"]:
            reason = "TLS is turned off by master.cf's %s" % listener["tls_turned_off_by"]
        elif listener["starttls"] is False:
            reason = "STARTTLS is not offered (senders only use it when the EHLO reply offers it)"
        elif listener["starttls"] is None:
            reason = "no SMTP answer (%s)" % (listener["error"] or "unknown")
        else:
            reason = "no TLS session (%s)" % (listener["error"] or "unknown")
        found.append(_finding("fail", "starttls_missing", where, "%s: senders deliver in plaintext" % reason,
                              "set smtpd_tls_security_level = may with a certificate (smtpd_tls_chain_files)"))
    elif not listener["established"]:
        found.append(_finding("fail", "tls_unavailable", where, "no TLS session: %s" % (listener["error"] or "?"),
                              "check the listener's certificate and smtpd_tls_* settings in master.cf"))
    legacy = [name for name in LEGACY_PROTOCOLS if listener["protocols"].get(name)]
    if legacy and listener["role"] == "mx":
        found.append(_finding("ok", "legacy_protocols_opportunistic", where, "accepts %s: %s" % (
            " and ".join(legacy), _OPPORTUNISTIC_WHY), "nothing to do"))
    elif legacy:
        found.append(_finding("warn", "legacy_protocols", where, "accepts %s, deprecated by RFC 8996, from mail "
                              "clients that must use TLS" % " and ".join(legacy),
                              "set smtpd_tls_mandatory_protocols = >=TLSv1.2 (hardening: intermediate)"))
    for certificate in listener["certificates"]:
        found += _certificate_findings(where, certificate)
    return found


def _certificate_findings(where, certificate):
    days = certificate.get("days_left")
    subject = "%s %s certificate %s" % (where, (certificate.get("key_algorithm") or "?").upper(),
                                        ", ".join(certificate.get("names") or []) or certificate.get("subject") or "")
    if days is None:
        return [_finding("warn", "certificate_unreadable", subject, "the served certificate could not be read: %s"
                         % certificate.get("error", "?"), "check smtpd_tls_chain_files")]
    fix = "renew it and check the renewal job (certbot renew --dry-run)"
    if days < EXPIRY_FAIL_DAYS:
        state = "expired on %s" % certificate["not_after"] if certificate.get("expired") else \
            "expires on %s, in %d days" % (certificate["not_after"], days)
        return [_finding("fail", "certificate_expiry", subject, state, fix)]
    if days < EXPIRY_WARN_DAYS:
        return [_finding("warn", "certificate_expiry", subject, "expires on %s, in %d days (renewals run at 30)"
                         % (certificate["not_after"], days), fix)]
    return [_finding("ok", "certificate_expiry", subject, "valid for %d more days" % days, "nothing to do")]


def dane_findings(posture):
    """A 3 1 1 record is compared with the keys served on its port (on every listener when none is on it)."""
    found, listeners = [], posture["listeners"]
    for record in posture["dane"]["records"]:
        on_port = [item for item in listeners if item["port"] == record["port"]] or listeners
        digests = set(cert.get("tlsa_3_1_1") for item in on_port for cert in item["certificates"])
        subject = "TLSA _%d._tcp.%s 3 1 1 %s..." % (record["port"], record["name"], record["digest"][:16])
        record["matches"] = record["digest"] in digests
        if record["matches"]:
            found.append(_finding("ok", "tlsa_match", subject, "matches a served key", "nothing to do"))
        else:
            found.append(_finding("fail", "tlsa_mismatch", subject, "matches no key this host serves: DANE senders "
                                  "defer mail to it", "publish the served key's record (tls_receiving_tlsa) "
                                  "and remove this one after the TTL"))
    return found


def advisor_findings(advisor):
    """A forced destination with plaintext deliveries or TLS deferrals, and the advisor's own problems."""
    found = []
    for item in (advisor or {}).get("destinations") or []:
        destination = str(item.get("destination"))
        policy = item.get("policy") or {}
        outcomes = item.get("outcomes") or {}
        plaintext, deferrals = _count(outcomes.get("plaintext")), _count(item.get("tls_deferrals"))
        forced_not_delivered = forces(str(policy.get("level") or "")) and (plaintext or deferrals)
        if forced_not_delivered:
            found.append(_finding("fail", "forced_not_delivered", destination, "policy %s, but %s and %s" % (
                policy.get("level"), counted(plaintext, "plaintext delivery", "plaintext deliveries"),
                counted(deferrals, "TLS deferral")) + (_first_sample(item.get("tls_deferral_samples")) if deferrals else ""),
                "probe it (mailtls.postfix.tls_probe) and fix its server or lower the level"))
        for problem in item.get("problems") or []:
            if forced_not_delivered and problem.get("kind") == "tls_deferred_forced":
                continue  # the same deferrals forced_not_delivered counts: one finding, not two
            severity = problem.get("severity") if problem.get("severity") in SEVERITIES else "warn"
            found.append(_finding(severity, "advisor_" + str(problem.get("kind") or "problem"), destination,
                                  str(problem.get("message") or ""), "see the advisor's proposal for it"))
    return found


def _first_sample(samples):
    return ": %s" % samples[0] if isinstance(samples, list) and samples and isinstance(samples[0], str) else ""


def _count(value):
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def findings_of(posture, advisor=None):
    """Every finding of a host, worst first; the order is stable for the same facts."""
    found = [finding for listener in posture["listeners"] for finding in listener_findings(listener)]
    found += dane_findings(posture) + advisor_findings(advisor)
    relay = posture["sending"].get("relay")
    if relay and relay["state"] == "plaintext":
        found.append(_finding("warn", "relay_plaintext", relay["nexthop"], "mail to the relay is sent without TLS",
                              "set smtp_tls_security_level = may, or encrypt for the relay in the policy table"))
    for table in posture["sending"]["tables"]:
        if table["exists"] is False or table["index_fresh"] is False:
            found.append(_finding("fail" if table["exists"] is False else "warn", "policy_table", table["table"],
                                  "missing" if table["exists"] is False else "its index is older than its source",
                                  "run postmap on it" if table["exists"] else "create it or remove it from "
                                  "smtp_tls_policy_maps"))
    return sorted(found, key=lambda item: (SEVERITIES.index(item["severity"]), item["code"], item["subject"]))


def worst(findings):
    """The worst severity of a list of findings (ok when there is none)."""
    return next((severity for severity in SEVERITIES if any(item["severity"] == severity for item in findings)), "ok")
