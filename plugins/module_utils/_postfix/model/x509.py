# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Facts from ``openssl x509``'s text output (private). Pure: text in, facts out."""

from __future__ import annotations

import calendar
import re
import time

from .tls import is_host_name


def parse_x509(text, now=None):
    """Facts from ``openssl x509 -noout -subject -issuer -enddate -fingerprint -sha256 -ext subjectAltName``.

    openssl escapes control bytes in the subject and issuer (one line each) but prints
    subjectAltName values raw, newlines included: a name could carry a whole fake
    ``notAfter=`` line. So every field is the first line openssl prints for it, before the
    subjectAltName heading, and names are the valid DNS names of the one line after it.
    """
    facts = {"subject": None, "issuer": None, "not_after": None, "names": [], "fingerprint_sha256": None}
    fields = {}
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if line.startswith("X509v3 Subject Alternative Name:"):
            values = lines[index + 1].strip().split(", ") if index + 1 < len(lines) else []
            if any(lines[index + 2:]):
                values = values[:-1]  # it is the last thing printed: more lines mean its last name held a newline
            facts["names"] = [value[4:] for value in values if value.startswith("DNS:") and _is_dns_name(value[4:])]
            break
        name, sep, value = line.partition("=")
        if sep:
            fields.setdefault(name.lower(), value.strip())
    facts.update(subject=fields.get("subject"), issuer=fields.get("issuer"), not_after=fields.get("notafter"),
                 fingerprint_sha256=fields.get("sha256 fingerprint"))
    if facts["not_after"]:
        expires = calendar.timegm(time.strptime(facts["not_after"].replace(" GMT", ""), "%b %d %H:%M:%S %Y"))
        facts["days_left"] = int((expires - (now or time.time())) // 86400)
        facts["expired"] = expires < (now or time.time())
    # The subjectAltName DNS names alone: what RFC 6125 matches when there are any (MTA-STS, RFC 8461 4.2).
    facts["san_names"] = list(facts["names"])
    cn = next((value for key, value in _name_fields(facts["subject"] or "") if key == "CN"), None)
    if cn and _is_dns_name(cn) and cn not in facts["names"]:
        facts["names"].insert(0, cn)
    return facts


# One attribute of openssl's default name output: CN = x, O = "a, b", OU = CN = y (a value
# with a comma is quoted, "=" in a value is not escaped).
_NAME_FIELD = re.compile(r'([A-Za-z][A-Za-z0-9.]*) = ("(?:[^"\\]|\\.)*"|(?:[^,+"\\]|\\.)*)(, | \+ |$)')


def _name_fields(name):
    """(attribute, value) pairs of a distinguished name as openssl prints it; stops where it stops parsing."""
    fields, position = [], 0
    while position < len(name):
        match = _NAME_FIELD.match(name, position)
        if not match:
            break
        value = match.group(2)
        fields.append((match.group(1), value[1:-1] if value.startswith('"') else value))
        if not match.group(3):
            break
        position = match.end()
    return fields


def _is_dns_name(name):
    return is_host_name(name[2:] if name.startswith("*.") else name)
