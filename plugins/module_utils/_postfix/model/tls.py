# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""TLS policy entries as typed data (private to the collection). Pure: no Ansible, no I/O.

A policy is a destination key and a value ``level [name=value ...]`` as
TLS_README and postconf(5) (smtp_tls_policy_maps) describe them. Every
attribute is checked against the levels it applies to and the Postfix
version that introduced it, so a typo or a ``match`` on ``encrypt`` fails
before anything is written.
"""

from __future__ import annotations

import re

from ..core.errors import InputError

LEVELS = ("none", "may", "encrypt", "dane", "dane-only", "fingerprint", "verify", "secure")
TLS_LEVELS = LEVELS[1:]
LEVEL_SINCE = {"dane": (2, 11), "dane-only": (2, 11), "fingerprint": (2, 5)}
# How much each level guarantees (TLS_README, "TLS client security levels"): none sends in clear;
# may encrypts when it can; dane falls back to may without usable TLSA records; encrypt requires
# encryption; dane-only, fingerprint and verify also authenticate the server; secure verifies the
# name against the next hop. Levels of equal rank authenticate differently and are not ordered.
LEVEL_STRENGTH = {"none": 0, "may": 1, "dane": 2, "encrypt": 3, "dane-only": 4, "fingerprint": 4,
                  "verify": 4, "secure": 5}

# Validating patterns are used with fullmatch: "$" would also match before a final newline.
_PROTOCOL = re.compile(r"(!|>=|<=)?(SSLv2|SSLv3|TLSv1|TLSv1\.[0-3])")
_CIPHER_NAME = re.compile(r"!?[A-Za-z0-9+_.\-]+")
_FINGERPRINT = re.compile(r"[0-9A-Fa-f]{2}(:?[0-9A-Fa-f]{2})+")
_LABEL = r"(?!-)[a-z0-9_-]{1,63}(?<!-)"
_DOMAIN = re.compile(r"%s(\.%s)*" % (_LABEL, _LABEL))
_IPV4 = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
_IPV6 = re.compile(r"ipv6:[0-9a-f:.]+")
_SERVICE = re.compile(r"[0-9]{1,5}|[a-z][a-z0-9-]*")
_MATCH_KEYWORDS = ("hostname", "nexthop", "dot-nexthop")
_ONE_WORD = re.compile(r"[!-~\u00a0-\ud7ff\ue000-\U0010ffff]+")  # printable: no space, control or stray byte


def _words(name, value, separators):
    """A list attribute given as a list or as text; returns its non-empty items."""
    if isinstance(value, (list, tuple)):
        items = [str(item) for item in value]
    elif isinstance(value, str):
        items = re.split("[%s]" % re.escape(separators), value)
    else:
        raise InputError(name, "must be a string or a list, not %s" % type(value).__name__)
    items = [item.strip() for item in items if item.strip()]
    if not items:
        raise InputError(name, "must not be empty")
    return items


def _protocols(name, value, level):
    items = _words(name, value, ":, ")
    for item in items:
        if not _PROTOCOL.fullmatch(item):
            raise InputError(name, "%r is not a TLS protocol (SSLv3, TLSv1, TLSv1.1, TLSv1.2, TLSv1.3, "
                                   "optionally prefixed with !, >= or <=)" % item)
    return ":".join(items)


def _ciphers(name, value, level):
    grades = ("export", "low", "medium", "high", "null")
    if value not in grades:
        raise InputError(name, "%r is not a cipher grade; use one of %s" % (value, ", ".join(grades)))
    return value


def _exclude(name, value, level):
    items = _words(name, value, ":, ")
    for item in items:
        if not _CIPHER_NAME.fullmatch(item):
            raise InputError(name, "%r is not an OpenSSL cipher or cipher-class name" % item)
    return ":".join(items)


def _match(name, value, level):
    if level == "fingerprint":
        items = _words(name, value, "|, ")
        for item in items:
            if not _FINGERPRINT.fullmatch(item):
                raise InputError(name, "%r is not a certificate or public-key fingerprint "
                                       "(hex bytes, optionally separated by ':')" % item)
        return "|".join(item.upper() for item in items)
    items = _words(name, value, ":, ")
    for item in items:
        host = item[1:] if item.startswith(".") else item
        if item not in _MATCH_KEYWORDS and not _DOMAIN.fullmatch(host.lower()):
            raise InputError(name, "%r is neither hostname, nexthop, dot-nexthop nor a domain name" % item)
    return ":".join(items)


def _tafile(name, value, level):
    items = _words(name, value, ": ")
    for item in items:
        if not item.startswith("/"):
            raise InputError(name, "%r must be an absolute path" % item)
    return ":".join(items)


def _yes_no(name, value, level):
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value in ("yes", "no"):
        return value
    raise InputError(name, "must be a boolean (yes or no), got %r" % (value,))


def _servername(name, value, level):
    if not isinstance(value, str) or not (value == "hostname" or _DOMAIN.fullmatch(value.lower())):
        raise InputError(name, "must be 'hostname' or a DNS name, got %r" % (value,))
    return value


# attribute -> (renderer, levels it applies to, first Postfix version with it)
ATTRIBUTES = {
    "ciphers": (_ciphers, TLS_LEVELS, (2, 6)),
    "protocols": (_protocols, TLS_LEVELS, (2, 6)),
    "exclude": (_exclude, TLS_LEVELS, (2, 6)),
    "match": (_match, ("fingerprint", "verify", "secure"), (2, 5)),
    "tafile": (_tafile, ("verify", "secure"), (2, 11)),
    "connection_reuse": (_yes_no, TLS_LEVELS, (3, 4)),
    "servername": (_servername, TLS_LEVELS, (3, 4)),
    "enable_rpk": (_yes_no, ("may", "encrypt", "fingerprint"), (3, 9)),
}


# Protocol ranges (">=TLSv1.2") came with Postfix 3.6; older versions abort every TLS session on them.
PROTOCOL_RANGE_SINCE = (3, 6)


def protocol_range_problem(value, postfix_version):
    """Why a protocol list cannot be used with this Postfix (a range before 3.6), or None."""
    if not postfix_version or postfix_version >= PROTOCOL_RANGE_SINCE:
        return None
    if not re.search(r"(^|[\s,:])(>=|<=)", value):
        return None
    return ("protocol ranges such as >=TLSv1.2 need Postfix %s or later; this host runs %s, which aborts "
            "every TLS session on them: use the !SSLv2, !SSLv3, !TLSv1, !TLSv1.1 form"
            % (_since(PROTOCOL_RANGE_SINCE), _since(postfix_version)))


# postconf(5): smtp_tlsrpt_enable, "available in Postfix 3.10 and later", for a build with libtlsrpt.
TLSRPT_SINCE = (3, 10)
# The main.cf parameters that decide whether smtp reports (TLSRPT_README; smtp_tlsrpt_post_jail() in Postfix's
# smtp/smtp_tlsrpt.c turns reporting off without DNS or without a socket), with their defaults (postconf(5)).
TLSRPT_DEFAULTS = {"smtp_tlsrpt_enable": "no", "smtp_tlsrpt_socket_name": "", "smtp_dns_support_level": "",
                   "disable_dns_lookups": "no"}


def tlsrpt_problem(enable, socket_name, postfix_version, linked, dns_support_level="", disable_dns_lookups="no"):
    """Why smtp_tlsrpt_enable cannot be on here, or None. ``enable``: its value (None: not asked);
    ``socket_name``, ``dns_support_level``, ``disable_dns_lookups``: smtp_tlsrpt_socket_name,
    smtp_dns_support_level and disable_dns_lookups as they will be; ``linked``: whether smtp links libtlsrpt.
    Turning it on where Postfix cannot report would be a parameter it ignores (TLSRPT_README)."""
    switch = (enable or "").strip().lower()
    if enable is None or switch == "no":
        return None
    if switch != "yes":
        # get_mail_conf_bool(): anything but yes or no is fatal for the smtp daemon.
        return "smtp_tlsrpt_enable = %r is neither yes nor no, which Postfix's daemons refuse" % (enable,)
    if postfix_version and postfix_version < TLSRPT_SINCE:
        return ("smtp_tlsrpt_enable needs Postfix %s or later (postconf(5)); this host runs %s, which has no TLSRPT "
                "client" % (_since(TLSRPT_SINCE), _since(postfix_version)))
    if not linked:
        return ("this host's Postfix smtp is not built with libtlsrpt (TLSRPT_README), so smtp_tlsrpt_enable "
                "would report nothing")
    if not (socket_name or "").strip():
        return ("smtp_tlsrpt_enable needs smtp_tlsrpt_socket_name, the socket of the TLSRPT collector that runs "
                "on this host (TLSRPT_README)")
    dns_off = _dns_off(dns_support_level, disable_dns_lookups)
    if dns_off:
        # smtp looks up each domain's _smtp._tls TXT record (RFC 8460); without DNS it logs "Cannot enable".
        return "smtp_tlsrpt_enable needs DNS lookups, and %s: Postfix would turn TLSRPT off" % dns_off
    return None


def _dns_off(dns_support_level, disable_dns_lookups):
    """What turns the smtp client's DNS lookups off, or None. smtp reads smtp_dns_support_level by name, in any
    case; left empty, it follows disable_dns_lookups (postconf(5))."""
    level = (dns_support_level or "").strip().lower()
    if level == "disabled":
        return "smtp_dns_support_level is disabled"
    if not level and (disable_dns_lookups or "").strip().lower() == "yes":
        return "disable_dns_lookups = yes turns them off (smtp_dns_support_level is empty)"
    return None


def _since(version):
    return ".".join(str(part) for part in version)


def is_domain(name):
    """True if ``name`` is a DNS name as Postfix's tables and policies take it (any case)."""
    return isinstance(name, str) and bool(_DOMAIN.fullmatch(name.lower()))


def is_host_name(name):
    """True for a host name; all-numeric names would be read as (bad) IPv4 addresses: 256.0.0.1, 1.2.3."""
    return (isinstance(name, str) and len(name) <= 253 and is_domain(name)
            and not name.replace(".", "").isdigit())


def valid_service(port):
    """A TCP port (1-65535) or a service name, as a next hop may carry."""
    if not _SERVICE.fullmatch(port):
        return False
    return not port.isdigit() or 0 < int(port) < 65536


def destination_port(destination):
    """The port a normalised destination names, or None."""
    host_end = destination.rfind("]") + 1 if destination.startswith("[") else 0
    _host, sep, port = destination[host_end:].rpartition(":")
    return port if sep else None


def normalize_destination(destination, where="destination"):
    """Return the table key Postfix looks up for a next-hop destination, lower-cased.

    Accepts ``example.com``, ``.example.com`` (its sub-domains), ``example.com:587``,
    ``[mx.example.com]``, ``[mx.example.com]:587``, ``[192.0.2.1]`` and ``[ipv6:2001:db8::1]``.
    """
    if not isinstance(destination, str) or not destination.strip():
        raise InputError(where, "a destination must be a non-empty string, got %r" % (destination,))
    key = destination.strip().lower()
    if _DOMAIN.fullmatch(key):  # the common case, first
        return key
    problem = "%r is not a next-hop destination (example.com, .example.com, [mx.example.com]:587, " \
              "[192.0.2.1])" % destination
    if key.startswith("["):
        host, sep, port = key[1:].partition("]")
        if not sep or (port and not (port.startswith(":") and valid_service(port[1:]))):
            raise InputError(where, problem)
        if _IPV4.fullmatch(host):
            if any(int(part) > 255 for part in host.split(".")):
                raise InputError(where, problem)
        elif not (_IPV6.fullmatch(host) or _DOMAIN.fullmatch(host)):
            raise InputError(where, problem)
        return key
    host, sep, port = key.partition(":")
    if sep and not valid_service(port):
        raise InputError(where, problem)
    bare = host[1:] if host.startswith(".") else host
    if not _DOMAIN.fullmatch(bare):
        raise InputError(where, problem)
    return key


def render_policy(level, attributes=None, postfix_version=None, destination="policy"):
    """Validate a level and its attributes; return the table value ``level [name=value ...]``.

    Attributes come in name order, so equal policies render equally.
    ``destination`` only names the entry in error messages.
    """
    prefix = "%s: " % destination
    if level not in LEVELS:
        raise InputError("level", "%s%r is not a TLS security level; use one of %s"
                         % (prefix, level, ", ".join(LEVELS)))
    if postfix_version and level in LEVEL_SINCE and postfix_version < LEVEL_SINCE[level]:
        raise InputError("level", "%slevel %s needs Postfix %s or later" % (prefix, level, _since(LEVEL_SINCE[level])))
    words = [level]
    for name, value in sorted((attributes or {}).items()):
        where = "attributes.%s" % name
        if name not in ATTRIBUTES:
            raise InputError(where, "%sunknown TLS policy attribute; known: %s"
                             % (prefix, ", ".join(sorted(ATTRIBUTES))))
        render, levels, since = ATTRIBUTES[name]
        if level not in levels:
            raise InputError(where, "%sdoes not apply to level %s (only to %s)" % (prefix, level, ", ".join(levels)))
        if postfix_version and postfix_version < since:
            raise InputError(where, "%sneeds Postfix %s or later; this host runs %s"
                             % (prefix, _since(since), _since(postfix_version)))
        try:
            rendered = render(name, value, level)
        except InputError as exc:
            raise InputError(where, prefix + str(exc).split(": ", 1)[1])
        if name == "protocols" and protocol_range_problem(rendered, postfix_version):
            raise InputError(where, prefix + protocol_range_problem(rendered, postfix_version))
        # One word whatever the renderer let through: a space or newline would add attributes or lines.
        if not _ONE_WORD.fullmatch(rendered):
            raise InputError(where, "%s%r holds whitespace or control characters" % (prefix, rendered))
        words.append("%s=%s" % (name, rendered))
    return " ".join(words)


def has_subdomains(destination):
    """Only a plain domain has sub-domains: not ``[host]``, ``host:port`` or ``.domain`` (itself a pattern)."""
    return not destination.startswith((".", "[")) and ":" not in destination


def _level_of(policy):
    """The level word of a policy or parameter value; an empty one is Postfix's default, none."""
    words = policy.split(None, 1)
    return words[0].lower() if words else "none"


def weakens(current_policy, new_policy):
    """True if replacing the table value ``current_policy`` by ``new_policy`` lowers the level."""
    current, new = _level_of(current_policy), _level_of(new_policy)
    if current not in LEVEL_STRENGTH or new not in LEVEL_STRENGTH:
        return False  # not a level we know (a hand-written entry): the caller's policy wins
    return LEVEL_STRENGTH[new] < LEVEL_STRENGTH[current]


def forces(policy):
    """True if a policy or level is stronger than may: removing it lowers the level."""
    return LEVEL_STRENGTH.get(_level_of(policy), 0) > LEVEL_STRENGTH["may"]


def covering_keys(key):
    """The table keys whose policy applies to ``key``, most specific first.

    TLS_README: a ``.example.com`` entry covers every sub-domain; the smtp
    client looks the next hop up first, then its parent domains as ``.domain``.
    """
    if not has_subdomains(key.lstrip(".")) or key.startswith("["):
        return [key]
    labels = key.lstrip(".").split(".")
    return [key] + ["." + ".".join(labels[index:]) for index in range(1, len(labels))]


def policy_keys(destination, include_subdomains=False):
    """The table keys of a normalised destination; with sub-domains, also ``.domain``.

    ``include_subdomains`` does not apply to a destination that has none (a
    bracketed next hop or one with a port): it gets its own key only.
    """
    if include_subdomains and has_subdomains(destination):
        return [destination, "." + destination]
    return [destination]


def check_port(port, where="port"):
    """A TCP port number (1-65535), as Postfix's services and next hops take it."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise InputError(where, "%r is not a TCP port (1-65535)" % (port,))
    return port
