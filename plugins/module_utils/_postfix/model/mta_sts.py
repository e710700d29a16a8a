# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""MTA-STS and TLS-RPT documents of a receiving domain, pure (private to the collection).

The policy file (RFC 8461 section 3.2) and its parser, the ``_mta-sts`` TXT record with an ``id``
derived from the policy's text (section 3.1), MX pattern matching (section 4.1), the names a
certificate covers (RFC 6125 section 6.4.3, as section 4.2 asks), and the ``_smtp._tls`` TLS-RPT
record (RFC 8460 section 3). Text in, text or facts out; a refusal names its option (``where``).
"""

from __future__ import annotations

import base64
import hashlib
import re

from ..core.errors import InputError

MODES = ("enforce", "testing", "none")
# RFC 8461 section 3.2: max_age is at most 31557600 seconds (about a year).
MAX_AGE_LIMIT = 31557600
# RFC 8461 section 3.1: the id is 1 to 32 ALPHA / DIGIT.
ID_LENGTH = 32
_ID = re.compile(r"[A-Za-z0-9]{1,32}\Z")
# RFC 5321 Domain: sub-domains of Let-dig [Ldh-str], A-labels only (section 3.2: ["*."] Domain).
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(r"(?=[^\n]{1,253}\Z)%s(?:\.%s)*\Z" % (_LABEL, _LABEL))
# RFC 8461 section 3.2: an extension field's name and value (no "=", ";", space or control byte).
_EXTENSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}\Z")
_EXTENSION_VALUE = re.compile(r"[\x21-\x3a\x3c\x3e-\x7e]+\Z")
_WSP = " \t"


class PolicyError(ValueError):
    """A policy file (or TXT record) that does not follow RFC 8461's grammar; the message says where."""


# --- names and patterns ---------------------------------------------------------------------

def check_domain(name, where):
    """A domain name in A-label form, lower case, without a final dot."""
    bare = name[:-1] if isinstance(name, str) and name.endswith(".") else name
    if not isinstance(bare, str) or not bare.isascii() or not _DOMAIN.match(bare) or bare.replace(".", "").isdigit():
        raise InputError(where, "%r is not a domain name in A-label form (RFC 5321 Domain)" % (name,))
    return bare.lower()


def check_pattern(pattern, where):
    """An MX pattern: a domain, or ``*.`` and a domain (RFC 8461 section 3.2, sts-policy-mx-value)."""
    if isinstance(pattern, str) and pattern.startswith("*."):
        return "*." + check_domain(pattern[2:], where)
    if isinstance(pattern, str) and "*" in pattern:
        raise InputError(where, "%r: a wildcard is only '*.' before a domain, as the leftmost label "
                                "(RFC 8461 section 3.2)" % pattern)
    return check_domain(pattern, where)


def wildcard_matches(pattern, name):
    """Whether ``pattern`` (``*.`` + domain, or a domain) matches the host ``name``, case-insensitive.

    RFC 8461 section 4.1: "*." matches exactly one leftmost label - ``*.example.com`` matches
    ``mx.example.com``, neither ``example.com`` nor ``a.b.example.com``. The same rule is RFC 6125's
    for a certificate's wildcard DNS-ID (section 6.4.3), which RFC 8461 section 4.2 applies.
    """
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern.startswith("*."):
        first, dot, rest = name.partition(".")
        return bool(first) and bool(dot) and rest == pattern[2:]
    return pattern == name


def covering(patterns, name):
    """The patterns (or certificate names) that match ``name``."""
    return [pattern for pattern in patterns if wildcard_matches(pattern, name)]


# --- the policy file ------------------------------------------------------------------------

def check_max_age(value, where):
    # RFC 8461 section 3.2: "plaintext non-negative integer seconds, maximum value of 31557600".
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_AGE_LIMIT:
        raise InputError(where, "%r is not a number of seconds from 0 to %d (RFC 8461 section 3.2)"
                                % (value, MAX_AGE_LIMIT))
    return value


def canonical_patterns(patterns):
    """The patterns as the policy lists them: lower case, each once, sorted (their order means nothing)."""
    return sorted(set(pattern.lower().rstrip(".") for pattern in patterns))


def policy_text(mode, patterns, max_age):
    """The policy file, each field on a line ending in CRLF (RFC 8461 section 3.2), version first.

    The same policy always gives the same bytes: the patterns are canonical, so the id derived
    from the text changes exactly when the policy does.
    """
    if mode not in MODES:
        raise InputError("mode", "%r is not one of %s" % (mode, ", ".join(MODES)))
    lines = ["version: STSv1", "mode: %s" % mode]
    lines += ["mx: %s" % pattern for pattern in canonical_patterns(patterns)]
    lines.append("max_age: %d" % max_age)
    return "".join(line + "\r\n" for line in lines)


def _policy_lines(text):
    """The policy's fields, split on LF or CRLF (section 3.2's sts-policy-term); blank lines end it."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError as exc:
            raise PolicyError("byte %d is not ASCII: a policy holds A-label names and ASCII fields only" % exc.start)
    lines = text.split("\n")
    for number, line in enumerate(lines, 1):
        if line.endswith("\r"):
            line = line[:-1]
        if "\r" in line:
            raise PolicyError("line %d holds a carriage return that does not end it" % number)
        yield number, line


def _field(number, line):
    name, colon, value = line.partition(":")
    if not colon or not name or name != name.strip(_WSP):
        raise PolicyError("line %d is not a 'name: value' field: %r" % (number, line))
    value = value.lstrip(_WSP).rstrip(_WSP)  # field-delim = ":" *WSP; *WSP may follow a field
    return name, value


def parse_policy(text):
    """The facts of a policy file: ``version``, ``mode``, ``mx`` (patterns, in order), ``max_age`` and
    ``extensions``; PolicyError naming the first problem. Unknown fields are kept, not refused
    (section 3.2: senders ignore them)."""
    found = {"mx": [], "extensions": {}}
    for number, line in _policy_lines(text):
        if not line:
            continue  # the trailing sts-policy-term, or a blank line
        name, value = _field(number, line)
        if name == "mx":
            found["mx"].append(_parsed_pattern(number, value))
        elif name in ("version", "mode", "max_age"):
            if name in found:
                raise PolicyError("line %d: %s is given twice; it is required once (RFC 8461 section 3.2)"
                                  % (number, name))
            found[name] = _parsed_value(number, name, value)
        elif _EXTENSION_NAME.match(name) and _EXTENSION_VALUE.match(value):
            found["extensions"][name] = value
        else:
            raise PolicyError("line %d: %r is not a field RFC 8461 section 3.2 allows" % (number, line))
    for name in ("version", "mode", "max_age"):
        if name not in found:
            raise PolicyError("no %s field: it is required once (RFC 8461 section 3.2)" % name)
    if found["mode"] != "none" and not found["mx"]:
        raise PolicyError("mode %s and no mx field: every mode but none needs at least one "
                          "(RFC 8461 section 3.2)" % found["mode"])
    return found


def _parsed_value(number, name, value):
    if name == "version" and value != "STSv1":
        raise PolicyError("line %d: version %r is not STSv1" % (number, value))
    if name == "mode" and value not in MODES:
        raise PolicyError("line %d: mode %r is not one of %s" % (number, value, ", ".join(MODES)))
    if name == "max_age":
        # sts-policy-max-age-value = 1*10(DIGIT), at most 31557600.
        if not re.match(r"[0-9]{1,10}\Z", value) or int(value) > MAX_AGE_LIMIT:
            raise PolicyError("line %d: max_age %r is not 0 to %d seconds" % (number, value, MAX_AGE_LIMIT))
        return int(value)
    return value


def _parsed_pattern(number, value):
    try:
        return check_pattern(value, "mx")
    except InputError as exc:
        raise PolicyError("line %d: %s" % (number, exc))


# --- the DNS records ------------------------------------------------------------------------

def policy_id(text):
    """An id for the policy's text: 32 ALPHA / DIGIT (section 3.1), the first 160 bits of its SHA-256
    in base32 - the same text always gives the same id, another text another one."""
    digest = hashlib.sha256(text.encode("ascii") if isinstance(text, str) else text).digest()
    return base64.b32encode(digest[:20]).decode("ascii").lower()


def check_id(value, where):
    # RFC 8461 section 3.1: sts-id = %s"id=" 1*32(ALPHA / DIGIT).
    if not isinstance(value, str) or not _ID.match(value):
        raise InputError(where, "%r is not 1 to 32 letters and digits (RFC 8461 section 3.1: "
                                "id = 1*32(ALPHA / DIGIT))" % (value,))
    return value


def sts_record(policy_id_value):
    """The ``_mta-sts`` TXT record's text (RFC 8461 section 3.1)."""
    return "v=STSv1; id=%s" % check_id(policy_id_value, "id")


def parse_sts_record(text):
    """{"id": ..., "extensions": {...}} of an ``_mta-sts`` TXT record; PolicyError naming the problem."""
    fields = [field.strip(_WSP) for field in text.split(";")]
    if fields[0] != "v=STSv1":
        raise PolicyError("the record does not start with v=STSv1 (RFC 8461 section 3.1)")
    if fields[-1] == "" and len(fields) > 1:
        fields.pop()  # the optional trailing sts-sep
    found = {"extensions": {}}
    for field in fields[1:]:
        name, equals, value = field.partition("=")
        if not equals:
            raise PolicyError("%r is not a name=value field" % field)
        if name == "id":
            if "id" in found or not _ID.match(value):
                raise PolicyError("id %r is not 1 to 32 letters and digits, given once" % value)
            found["id"] = value
        elif _EXTENSION_NAME.match(name) and _EXTENSION_VALUE.match(value):
            found["extensions"][name] = value
        else:
            raise PolicyError("%r is not a field RFC 8461 section 3.1 allows" % field)
    if "id" not in found:
        raise PolicyError("the record has no id (RFC 8461 section 3.1)")
    return found


# RFC 3986 characters a URI may hold as they are (unreserved, reserved, and "%" of an escape).
_URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*\Z")
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$&'*+/=?^_`{|}~.%-]+\Z")
# RFC 8460 section 3: commas and exclamation points in a URI MUST be encoded; a semicolon would
# end the rua field (field-delim), so it is encoded too.
_ENCODED = {",": "%2C", "!": "%21", ";": "%3B"}


def tlsrpt_uri(uri, where):
    """A rua URI as the record holds it: mailto: an address, or https: a URL (RFC 8460 section 3)."""
    if not isinstance(uri, str) or not uri.isascii() or not _URI_CHARS.match(uri) or _PERCENT.search(uri):
        raise InputError(where, "%r is not a URI: only RFC 3986 characters (no space, quote, backslash or control "
                                "byte; '%%' only before two hex digits)" % (uri,))
    scheme, colon, rest = uri.partition(":")
    if not colon or scheme.lower() not in ("mailto", "https"):
        raise InputError(where, "%r: rua takes mailto: or https: URIs only (RFC 8460 section 3)" % uri)
    if scheme.lower() == "mailto":
        return "mailto:" + _mailto_address(rest, uri, where)
    return "https:" + _https_rest(rest, uri, where)


def _encoded(text):
    return "".join(_ENCODED.get(char, char) for char in text)


def _mailto_address(rest, uri, where):
    local, at, domain = rest.rpartition("@")
    if "," in rest:
        raise InputError(where, "%r names several addresses: give each as its own mailto: URI (a comma in a rua "
                                "URI must be encoded, RFC 8460 section 3)" % uri)
    if not at or not local or not _LOCAL_PART.match(local) or "?" in rest:
        raise InputError(where, "%r is not mailto: followed by one address (local-part@domain, no ?headers)" % uri)
    return _encoded(local) + "@" + check_domain(domain, where)


def _https_rest(rest, uri, where):
    if not rest.startswith("//"):
        raise InputError(where, "%r is not an https://host/path URL" % uri)
    authority, slash, path = rest[2:].partition("/")
    host, colon, port = authority.rpartition(":") if ":" in authority else (authority, "", "")
    if "@" in authority or "#" in rest:
        raise InputError(where, "%r: an https rua URL carries no user information and no fragment" % uri)
    if colon and (not port.isdigit() or not 0 < int(port) < 65536):
        raise InputError(where, "%r: the port is not 1 to 65535" % uri)
    return "//" + check_domain(host, where) + colon + port + slash + _encoded(path)


def tlsrpt_record(uris):
    """The ``_smtp._tls`` TXT record's text: ``v=TLSRPTv1; rua=a,b`` (RFC 8460 section 3)."""
    return "v=TLSRPTv1; rua=%s" % ",".join(uris)


def txt_line(owner, text):
    """A zone-file line of a TXT record, its text split in character-strings of at most 255 octets
    (RFC 1035 section 3.3.14); the texts here hold no quote or backslash to escape."""
    strings = [text[start:start + 255] for start in range(0, len(text), 255)] or [""]
    return "%s. IN TXT %s" % (owner.rstrip("."), " ".join('"%s"' % string for string in strings))
