# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet TLS report, on the controller: one document from the hosts' tls_posture results, as JSON
and as node_exporter textfile metrics (the HTML page is tls_report_html.py's).

Pure and deterministic: the same results give the same bytes; only ``generated`` (given by the
caller) changes from one run to the next. The findings are plan/posture.py's, computed again
here with each host's advisor output when there is one: the tls_posture call's own reading of the
mail log (its ``advisor`` option), or a tls_advisor result the caller gives, which wins.
"""

from __future__ import annotations

import calendar
import json
import re
import time

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.tls import covering_keys
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.posture import (
    SEVERITIES, findings_of, worst)

REPORT_FORMAT = "mailtls.postfix tls-report 1"
# Where the report's JSON Schema lives: in the collection, beside its documentation (docs/tls-report.md).
SCHEMA_PATH = "docs/tls-report.schema.json"
_POSTURE_KEYS = ("hostname", "version", "listeners", "protocols_probed", "dane", "hardening", "sending")
_OUTCOMES = ("verified", "trusted", "untrusted", "anonymous", "plaintext", "unknown")
_OTHER = "_other"
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean(value):
    """Text safe for JSON, HTML and metrics: undecodable bytes (surrogate escapes) become U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return dict((clean(key), clean(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [clean(item) for item in value]
    return value


def _host_entry(name, result, advisor):
    result = result if isinstance(result, dict) else {}
    if result.get("failed") or result.get("unreachable") or "listeners" not in result:
        reason = result.get("msg") or "no tls_posture result (unreachable, skipped or not run)"
        finding = {"severity": "fail", "code": "host_not_read", "subject": name, "message": str(reason),
                   "fix": "run the report again once the host answers; see the play's error for it"}
        return {"host": name, "state": "fail", "posture": None, "advisor": None, "findings": [finding]}
    posture = dict((key, result.get(key)) for key in _POSTURE_KEYS)
    if not _has_destinations(advisor):  # a registered tls_advisor result wins over the posture call's own reading
        advisor = result.get("advisor")
    advisor = advisor if _has_destinations(advisor) else None
    findings = findings_of(posture, advisor)
    return {"host": name, "state": worst(findings), "posture": posture,
            "advisor": {"destinations": advisor["destinations"]} if advisor else None, "findings": findings}


def _has_destinations(advisor):
    return isinstance(advisor, dict) and isinstance(advisor.get("destinations"), list)


def build_report(postures, advisors=None, generated=""):
    """The report document: ``postures`` maps each host to its registered tls_posture result (its
    ``advisor`` part when it read the mail log), ``advisors`` (optional) each host to a tls_advisor
    result, which wins over that part. Hosts and findings worst first."""
    advisors = advisors if isinstance(advisors, dict) else {}
    hosts = [_host_entry(str(name), result, advisors.get(name)) for name, result in (postures or {}).items()]
    hosts.sort(key=lambda host: (SEVERITIES.index(host["state"]), host["host"]))
    findings = [dict(finding, host=host["host"]) for host in hosts for finding in host["findings"]]
    findings.sort(key=lambda item: (SEVERITIES.index(item["severity"]), item["host"], item["code"], item["subject"]))
    summary = dict((severity, sum(1 for host in hosts if host["state"] == severity)) for severity in SEVERITIES)
    summary["hosts"] = len(hosts)
    return clean({"format": REPORT_FORMAT, "generated": str(generated), "summary": summary, "hosts": hosts,
                  "findings": findings})


def report_json(report):
    """The document as JSON text, keys sorted, one final newline: the same document, the same bytes."""
    return json.dumps(report, indent=2, sort_keys=True, ensure_ascii=True) + "\n"


# --- Prometheus text format (node_exporter's textfile collector) ---------------------------------------

def _label(value):
    """A label value as the exposition format wants it: backslash, double quote and newline escaped."""
    return clean(str(value)).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


class _Metrics(object):
    def __init__(self):
        self.families = []

    def family(self, name, help_text):
        samples = []
        self.families.append((name, help_text, samples))
        return samples

    def render(self):
        lines = []
        for name, help_text, samples in self.families:
            if not samples:
                continue
            lines += ["# HELP %s %s" % (name, help_text), "# TYPE %s gauge" % name]
            for labels, value in sorted(samples, key=lambda sample: sample[0]):
                text = ",".join('%s="%s"' % (key, _label(item)) for key, item in labels)
                lines.append("%s%s %s" % (name, "{%s}" % text if text else "", _number(value)))
        return "\n".join(lines) + "\n"


def _number(value):
    return "%d" % value if float(value).is_integer() else repr(float(value))


def _epoch(not_after):
    try:
        return calendar.timegm(time.strptime(not_after.replace(" GMT", ""), "%b %d %H:%M:%S %Y"))
    except (AttributeError, ValueError):
        return None


def host_metrics(report, host_name):
    """One host's metrics for node_exporter's textfile collector.

    Names follow postfix_exporter's (the ``postfix_`` namespace, ``smtpd``/``smtp`` subsystems,
    its ``trust`` label values for TLS outcomes); these are gauges of a state or of the advisor's
    log window, so none ends in ``_total``. Labels are bounded: ports, protocols, key types,
    levels, and destinations of the policy table only - a sub-domain counts under the ``.parent``
    entry that covers it, every other destination is summed as ``_other``.
    """
    host = next(item for item in report["hosts"] if item["host"] == host_name)
    metrics = _Metrics()
    generated = metrics.family("postfix_tls_report_generated_timestamp_seconds",
                               "When the report was made (Unix time).")
    stamp = _epoch_iso(report["generated"])
    if stamp is not None:
        generated.append(((), stamp))
    up = metrics.family("postfix_tls_report_host_read", "Whether tls_posture read the host (1) or not (0).")
    up.append(((), 1 if host["posture"] else 0))
    findings = metrics.family("postfix_tls_report_findings", "Findings of the host by severity.")
    for severity in SEVERITIES:
        findings.append(((("severity", severity),), sum(1 for item in host["findings"] if item["severity"] == severity)))
    if host["posture"]:
        _posture_metrics(metrics, host["posture"])
        _advisor_metrics(metrics, host["posture"], host["advisor"])
    return metrics.render()


def _epoch_iso(text):
    try:
        return calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))
    except (TypeError, ValueError):
        return None


def _posture_metrics(metrics, posture):
    starttls = metrics.family("postfix_smtpd_tls_starttls_offered",
                              "Whether the listener offers STARTTLS (wrapper-mode listeners are left out).")
    handshake = metrics.family("postfix_smtpd_tls_handshake_ok", "Whether a TLS handshake with Postfix's own "
                                                                 "choices succeeded.")
    accepted = metrics.family("postfix_smtpd_tls_protocol_accepted",
                              "Whether the listener accepts a handshake limited to this protocol version.")
    expiry = metrics.family("postfix_smtpd_tls_certificate_expiry_timestamp_seconds",
                            "When the served certificate of this key type expires (Unix time).")
    for listener in posture["listeners"]:
        where = (("port", listener["port"]), ("role", listener["role"]))
        if not listener["wrappermode"]:
            starttls.append((where, 1 if listener["starttls"] else 0))
        handshake.append((where, 1 if listener["established"] else 0))
        for protocol, ok in sorted(listener["protocols"].items()):
            accepted.append((where + (("protocol", protocol),), 1 if ok else 0))
        for certificate in listener["certificates"]:
            stamp = _epoch(certificate.get("not_after"))
            if stamp is not None:
                expiry.append((where + (("key_algorithm", certificate.get("key_algorithm") or "other"),), stamp))
    tlsa = metrics.family("postfix_smtpd_tls_tlsa_records", "DANE 3 1 1 records by whether a served key matches.")
    for matches in (True, False):
        tlsa.append(((("matches", "true" if matches else "false"),),
                     sum(1 for record in posture["dane"]["records"] if bool(record.get("matches")) == matches)))
    profile = metrics.family("postfix_tls_hardening_profile_info", "The hardening profile main.cf matches.")
    profile.append(((("profile", posture["hardening"]["profile"]),), 1))
    levels = metrics.family("postfix_smtp_tls_policy_destination_level",
                            "The level of each destination of smtp_tls_policy_maps (1 per entry).")
    for entry in posture["sending"]["policy"]:
        if not entry["shadowed"]:
            levels.append(((("destination", entry["destination"]), ("level", entry["level"])), 1))
    relay = posture["sending"].get("relay")
    if relay:
        metrics.family("postfix_smtp_tls_relay_info", "The relay, its TLS level and state.").append(
            ((("level", relay["level"]), ("nexthop", relay["nexthop"]), ("state", relay["state"])), 1))


def _advisor_metrics(metrics, posture, advisor):
    if not advisor:
        return
    policy = set(entry["destination"] for entry in posture["sending"]["policy"])
    deliveries, deferrals = {}, {}
    for item in advisor["destinations"]:
        if not isinstance(item, dict):
            continue
        name = _policy_destination(str(item.get("destination")), policy)
        outcomes = item.get("outcomes") if isinstance(item.get("outcomes"), dict) else {}
        for outcome in _OUTCOMES:
            count = outcomes.get(outcome)
            if isinstance(count, int) and not isinstance(count, bool):
                deliveries[(name, outcome)] = deliveries.get((name, outcome), 0) + count
        count = item.get("tls_deferrals")
        if isinstance(count, int) and not isinstance(count, bool):
            deferrals[name] = deferrals.get(name, 0) + count
    family = metrics.family("postfix_smtp_tls_deliveries",
                            "Deliveries in the advisor's log window by TLS outcome (trust), per policy destination.")
    family += [((("destination", name), ("trust", outcome)), count) for (name, outcome), count in deliveries.items()]
    family = metrics.family("postfix_smtp_tls_deferrals",
                            "Deliveries deferred for TLS reasons in the advisor's log window, per policy destination.")
    family += [((("destination", name),), count) for name, count in deferrals.items()]


def _policy_destination(destination, policy):
    """The policy table key whose entry covers ``destination`` (itself, or a ``.parent`` entry for its
    sub-domains, as the smtp client looks them up), or ``_other``: labels stay the table's keys.
    Postfix folds the case of a looked-up name; the name as logged is tried first."""
    keys = covering_keys(destination) + covering_keys(destination.lower())
    return next((key for key in keys if key in policy), _OTHER)
