# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which destinations can be forced, and to which level: the proposal rules over the log's evidence (private).

- ``dane-only`` when every delivery was DANE-authenticated;
- ``secure`` when every delivery, to every MX host, was ``Verified`` under level verify in force, and
  every MX host is named under the destination (secure matches the next hop and its sub-domains);
- ``encrypt`` when every delivery used TLS;
- nothing when any delivery was in plaintext or its TLS state is unknown, below the thresholds, or
  when the level would not be stronger than the one in force (never a downgrade: ``LEVEL_STRENGTH``).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from ..core.errors import InputError
from ..model.tls import LEVEL_STRENGTH, covering_keys
from .delivery_log import OUTCOMES, DestinationLog

_SECONDS_A_DAY = 86400.0


def regroup(destinations, nexthop_of):
    """Merge the recipient domains' evidence by next hop: ``nexthop_of(domain)`` names it."""
    grouped = {}
    for domain in sorted(destinations):
        nexthop = nexthop_of(domain) or domain
        if nexthop == domain and nexthop not in grouped:
            grouped[nexthop] = destinations[domain]
            continue
        grouped.setdefault(nexthop, DestinationLog()).merge(destinations[domain])
    return grouped


def policy_for(destination, found, default_level, source):
    """The policy in force for ``destination``: ``found`` maps table keys to their values.

    The most specific key first (the next hop, then ``.parent`` domains, TLS_README); none: the
    default level (``smtp_tls_security_level``).
    """
    for key in covering_keys(destination):
        if key in found:
            words = found[key].split()
            return {"entry": found[key], "key": key, "level": words[0].lower() if words else "none", "source": source}
    return {"entry": None, "key": None, "level": default_level or "none", "source": source}


def counted(number, noun, nouns=None):
    """``1 delivery``, ``2 deliveries``: the count with its noun in the number it takes."""
    return "%d %s" % (number, noun if number == 1 else nouns or noun + "s")


def span_days(log):
    if log.first is None:
        return 0.0
    return (log.last - log.first).total_seconds() / _SECONDS_A_DAY


def under(host, destination):
    """A host name the destination's secure match (nexthop, dot-nexthop) covers: it or a sub-domain."""
    domain = destination.lower().lstrip(".")
    return host == domain or host.endswith("." + domain)


def evidence_level(log, mx_expected=None, current="may", destination=""):
    """(level, evidence) the deliveries support, or (None, why not); thresholds aside.

    A ``Matched DANE`` line is DANE's only under a DANE level: Postfix logs the same line for a
    ``tafile`` trust anchor at level verify or secure (tls_dane_log, src/tls/tls_dane.c). Postfix
    3.11's ``tls=dane`` on a Verified delivery is DANE's wherever; such a Verified is no ground for secure.
    """
    outcomes = log.outcomes
    doubtful = outcomes["plaintext"] + outcomes["unknown"]
    if doubtful:
        return None, "%d of %d deliveries not known to use TLS (%d plaintext, %d unknown)" % (
            doubtful, log.deliveries, outcomes["plaintext"], outcomes["unknown"])
    if mx_expected is not None:
        missing = sorted(set(mx_expected) - set(log.mx_hosts))
        if missing:
            return None, "MX hosts never seen in the log: %s" % ", ".join(missing)
    hosts = "to every MX host seen (%d)" % len(log.mx_hosts)
    head = "%s in %s days" % (counted(log.deliveries, "delivery", "deliveries"), _days_text(span_days(log)))
    if log.dane == outcomes["verified"] == log.deliveries and (current in ("dane", "dane-only")
                                                               or log.dane_field == log.deliveries):
        return "dane-only", "%s, every one DANE-authenticated, %s" % (head, hosts)
    if outcomes["verified"] == log.deliveries and not log.dane_field and not log.verified_elsewhere \
            and current == "verify" \
            and all(under(host, destination) for host in log.mx_hosts):
        return "secure", "%s, every one Verified, %s" % (head, hosts)
    mix = ", ".join("%d %s" % (outcomes[name], name.capitalize()) for name in OUTCOMES if outcomes[name])
    if outcomes["verified"] == log.deliveries:
        # Only verify checks a CA chain and a name as secure does; a Verified under any other level is
        # that level's own match (fingerprint, DANE), or came under a policy changed since. And secure
        # matches the next hop and its sub-domains (TLS_README), verify the MX host's name.
        return "encrypt", "%s, every one over TLS (%s), %s; secure needs them Verified under level verify " \
                          "(%s is in force) and every MX host named under %s" % (head, mix, hosts, current, destination)
    return "encrypt", "%s, every one over TLS (%s), %s; secure needs every one Verified" % (head, mix, hosts)


def _days_text(days):
    return ("%.1f" % days).rstrip("0").rstrip(".")


def propose(destination, log, policy, min_deliveries, min_days, mx_expected=None):
    """The proposal for one destination: {"level": str or None, "evidence" or "reason": str}."""
    if log.deliveries < min_deliveries:
        return {"level": None, "reason": "%s, fewer than min_deliveries (%d)" % (
            counted(log.deliveries, "delivery", "deliveries"), min_deliveries)}
    if span_days(log) < min_days:
        return {"level": None, "reason": "seen over %s days, fewer than min_days (%d)" % (_days_text(span_days(log)), min_days)}
    current = policy["level"]
    level, text = evidence_level(log, mx_expected, current, destination)
    if level is None:
        return {"level": None, "reason": text}
    if current not in LEVEL_STRENGTH:
        return {"level": None, "reason": "the policy in force (%s) is not a level this collection orders" % current}
    if level == "encrypt" and current == "dane":
        return {"level": None, "reason": "encrypt would drop the DANE authentication level dane gives where TLSA "
                                         "records exist: %s" % text}
    if LEVEL_STRENGTH[level] <= LEVEL_STRENGTH[current]:
        return {"level": None, "reason": "the policy in force (%s) is already as strong as %s: %s" % (current, level, text)}
    return {"level": level, "evidence": text}


def problems(log, policy):
    """What the log says is wrong with the policy in force."""
    found = []
    forced = LEVEL_STRENGTH.get(policy["level"], 0) > LEVEL_STRENGTH["may"]
    if log.tls_deferrals and forced:
        found.append({"kind": "tls_deferred_forced", "severity": "fail",
                      "message": "%s deferred or bounced for TLS while the policy asks for %s: %s"
                                 % (counted(log.tls_deferrals, "delivery", "deliveries"), policy["level"], "; ".join(log.samples[:1]))})
    if log.plaintext_after_tls:
        found.append({"kind": "tls_to_plaintext", "severity": "fail" if forced else "warn",
                      "message": "%s in plaintext after TLS ones: a server that stopped offering "
                                 "STARTTLS, or an attacker stripping it"
                                 % counted(log.plaintext_after_tls, "delivery", "deliveries")})
    if policy["entry"] is not None and not log.deliveries:
        found.append({"kind": "unused_entry", "severity": "warn",
                      "message": "the entry %s = %s delivered nothing in the window (%s)"
                                 % (policy["key"], policy["entry"], counted(log.attempts, "attempt"))})
    return found


def report(destination, log, policy, proposal):
    """One destination's part of the result (RETURN's ``destinations`` element)."""
    return {
        "destination": destination,
        "deliveries": log.deliveries,
        "outcomes": dict(log.outcomes),
        "dane": log.dane,
        "mx_hosts": [{"host": host, "deliveries": number, "outcomes": dict(outcomes)}
                     for host, (number, outcomes) in sorted(log.mx_hosts.items())],
        "protocols": dict(sorted(log.protocols.items())),
        "ciphers": dict(sorted(log.ciphers.items())),
        "first_seen": log.first.isoformat() if log.first else None,
        "last_seen": log.last.isoformat() if log.last else None,
        "tls_deferrals": log.tls_deferrals,
        "tls_deferral_samples": list(log.samples),
        "policy": {"entry": policy["entry"], "level": policy["level"], "source": policy["source"]},
        "proposal": proposal,
        "problems": problems(log, policy),
    }


def unused_entries(entries, used_keys):
    """The policy table keys no destination of the log looked up, in table order."""
    return [key for key in entries if key not in used_keys]


def check_thresholds(min_deliveries, min_days):
    if min_deliveries < 1:
        raise InputError("min_deliveries", "%d is not a count of deliveries (1 or more)" % min_deliveries)
    if min_days < 0:
        raise InputError("min_days", "%d is not a number of days (0 or more)" % min_days)


_RELATIVE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(value, now, option):
    """``since``/``until``: ISO 8601 (a date, or a time with or without its zone: UTC then), or a
    relative ``7d``, ``24h``, ``30m``, ``2w``, ``90s`` before ``now``; None when not given."""
    if value is None or value == "":
        return None
    text = str(value)
    match = re.fullmatch(r"([0-9]{1,6})([smhdw])", text)  # ASCII digits: \d takes any script's
    try:
        if match:
            return now - timedelta(seconds=int(match.group(1)) * _RELATIVE_UNITS[match.group(2)])
        when = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
        when.astimezone(timezone.utc)  # printed in UTC: years 1 to 9999 there too
        return when
    except OverflowError:
        raise InputError(option, "%r is outside the calendar (years 1 to 9999, in UTC)" % (text,))
    except ValueError:
        raise InputError(option, "%r is neither ISO 8601 (2026-12-01, 2026-12-01T10:00:00+00:00) nor relative "
                                 "(7d, 24h, 30m)" % (text,))
