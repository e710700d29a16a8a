# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What posttls-finger says and how to ask it (private). Pure: text in, facts out.

Parses one posttls-finger run, builds its arguments for a policy entry exactly as Postfix's
smtp client applies it, and turns a probe result into the pre-flight's verdict.
"""

from __future__ import annotations

import ipaddress
import re
import socket

from ..core.errors import InputError
from .tls import check_port, destination_port, is_host_name, normalize_destination

# posttls-finger writes everything (transcript, verdict, failures, the -C chain) to stdout.
# Its own messages are single lines starting with this prefix. A server's text shows only
# after "< " (the transcript) or after a fixed message start ("STARTTLS rejected: 454 ..."),
# with CR, control and non-ASCII bytes as "?" and a bare LF starting a new "< " line; so
# everything is read from the start of posttls-finger's own lines, never from the transcript.
_PREFIX = "posttls-finger: "
_VERDICT = re.compile(r"(Anonymous|Untrusted|Trusted|Verified) TLS connection established to (\S+): "
                      r"(TLSv[0-9.]+|SSLv[0-9]) with cipher (\S+)(?: |$)")
# posttls-finger's failure messages (posttls-finger.c and the TLS library), at the start of its line.
_FAILURE = re.compile(r"(Failed to establish session to |Destination address lookup failed: |no MX host for "
                      r"|SMTP service not available: |(EHLO|HELO|STARTTLS) rejected: "
                      r"|(\w+ )?certificate verification failed for |TLSA lookup error for "
                      r"|Failed to load trust anchor file: |fatal: |SSL_connect error to |warning: TLS library problem: "
                      r"|[a-z ]+ while (reading server greeting|sending ))")
_DNSSEC_UNAVAILABLE = "warning: DNSSEC validation may be unavailable"
_DNSSEC_PROBE = re.compile(r"(warning: )?(reason: )?dnssec_probe '[^']*' received ")
# At dane and dane-only, without DNSSEC-validated TLSA records (an unsigned zone, or none published),
# posttls-finger tests the server at "secure" instead; Postfix's smtp client at dane-only makes no
# connection at all then (postconf(5), smtp_tls_security_level). Measured on Postfix 3.5, 3.7, 3.10.
_NO_TLSA = 'no TLSA records found, resorting to "secure"'
# The -C chain comes after the session, unprefixed; its subjects are escaped (\x0A), PEM lines are exact.
_CHAIN = "Certificate chain"
_PEM_BEGIN, _PEM_END = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
_BASE64 = re.compile(r"[A-Za-z0-9+/=]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_TIMEOUT = 600


def parse_finger(output):
    """Facts from one posttls-finger run's standard output (str or bytes).

    Only posttls-finger's own lines count: a server's text, wherever it appears, never
    makes a verdict, a failure, a STARTTLS offer, a DNSSEC finding or a certificate.
    """
    lines = text_of(output).split("\n")  # never splitlines(): \x0c, \x1c, U+2028 ... are not line ends
    own = [line[len(_PREFIX):] for line in lines if line.startswith(_PREFIX)]
    messages = [line for line in own if not line.startswith(("<", ">"))]
    established = next((match for match in map(_VERDICT.match, messages) if match), None)
    dnssec_unavailable = _DNSSEC_UNAVAILABLE in messages
    dnssec_probed = dnssec_unavailable or any(_DNSSEC_PROBE.match(line) for line in messages)
    pem = _certificates(lines)
    return {
        "starttls": _offers_starttls(own) or bool(established),
        "established": bool(established),
        "trust": established.group(1) if established else None,
        "peer": established.group(2) if established else None,
        "protocol": established.group(3) if established else None,
        "cipher": established.group(4) if established else None,
        "leaf_pem": pem[0] if pem and established else None,
        "errors": [line for line in messages if _FAILURE.match(line)],
        # posttls-finger probes the resolver (dnssec_probe) when it looks names up in DNS.
        "dnssec_validation": not dnssec_unavailable if dnssec_probed else None,
        "no_tlsa": _NO_TLSA in messages,
    }


def text_of(output):
    """Text whatever the server sent: undecodable bytes (surrogate escapes included) become U+FFFD."""
    if isinstance(output, bytes):
        return output.decode("utf-8", "replace")
    return _SURROGATE.sub("\ufffd", output)


def _offers_starttls(own):
    """Whether the first EHLO reply has a STARTTLS keyword line (RFC 5321: not its first line, the name)."""
    for index, line in enumerate(own):
        if line.startswith("> EHLO "):
            break
    else:
        return False
    for number, line in enumerate(own[index + 1:]):
        if not line.startswith(("< 250-", "< 250 ")):
            return False
        keyword = re.split(r"[ =]", line[len("< 250-"):], 1)[0]
        if number > 0 and keyword.upper() == "STARTTLS":
            return True
        if line.startswith("< 250 "):
            return False
    return False


def _certificates(lines):
    """The PEM blocks of the -C chain, which follows a "Certificate chain" line."""
    blocks, current, in_chain = [], None, False
    for line in lines:
        if line == _CHAIN:
            in_chain = True
        elif not in_chain:
            continue
        elif line == _PEM_BEGIN:
            current = [line]
        elif current is not None and line == _PEM_END:
            blocks.append("\n".join(current + [line]))
            current = None
        elif current is not None and _BASE64.fullmatch(line):
            current.append(line)
        else:
            current = None  # not a PEM block after all
    return blocks


# The probe level that shows a server can take a policy level: verify and secure are checked as
# such; every other forced level (dane, fingerprint, ...) needs at least a TLS session.
_PROBED_AS = {"verify": "verify", "secure": "secure"}
_DANE_LEVELS = ("dane", "dane-only")


# Levels whose session Postfix delivers over only when the peer is authenticated ("Verified").
_AUTHENTICATED_LEVELS = ("fingerprint", "verify", "secure", "dane-only")
# Policy attributes that change whether a session is made or trusted, and how posttls-finger takes them.
_FINGER_OPTIONS = {"protocols": "-p", "ciphers": "-g", "tafile": "-A", "servername": "-s"}


def policy_needs_its_own_probe(level, attributes):
    """Whether the level's general probe cannot tell (a fingerprint, DANE only, or attributes that matter)."""
    return level in ("fingerprint", "dane-only") or any(name in _FINGER_OPTIONS or name == "match"
                                                        for name in attributes or {})


def policy_finger_args(level, attributes, target, fingerprint_digest=None):
    """posttls-finger's arguments for one policy entry as the smtp client would apply it:
    the level, its protocols, cipher grade, trust anchors and SNI name, then the match list."""
    attributes = attributes or {}
    args = ["-l", level]
    for name, option in sorted(_FINGER_OPTIONS.items()):
        if attributes.get(name) is not None:
            args += [option, str(attributes[name])]
    if level == "fingerprint" and fingerprint_digest:
        args += ["-d", fingerprint_digest]
    matches = [item for item in str(attributes.get("match") or "").split(":") if item] if level != "fingerprint" \
        else re.findall(r"(?:[0-9A-Fa-f]{2}:)*[0-9A-Fa-f]{2}", str(attributes.get("match") or ""))
    return args + ["--", target] + matches


def policy_passes(level, finger):
    """Whether a posttls-finger result under the policy is a session Postfix would deliver over."""
    if not finger["established"] or (level == "dane-only" and finger.get("no_tlsa")):
        return False  # posttls-finger's "secure" in place of dane-only is no session Postfix would make
    return finger["trust"] == "Verified" if level in _AUTHENTICATED_LEVELS else True


def preflight_verdict(destination, level, probe):
    """Why ``destination`` cannot take ``level``, from a tls_probe result; None when it can."""
    policy = probe.get("policy")
    if policy is not None and level == "dane-only" and policy.get("no_tlsa"):
        return ("%s cannot take level dane-only: its MX hosts have no DNSSEC-validated TLSA records (its zone "
                "is not signed, or publishes none), and at dane-only Postfix then makes no connection" % destination)
    if policy is not None and not policy["passes"]:
        session = "TLS %s, %s" % (policy["protocol"] or "not established", policy["trust"] or "no session")
        reason = (policy["errors"] or [None])[0] or session
        return "%s cannot take level %s with its attributes, as Postfix applies them (%s)" % (
            destination, level, reason)
    dane = level in _DANE_LEVELS
    no_dnssec = dane and probe.get("dnssec_validation") is False
    # The entry probed exactly as the smtp client applies it (its match list too) decides its level.
    passed = policy["passes"] if policy is not None else probe.get("passes", {}).get(_PROBED_AS.get(level, "encrypt"))
    if passed and not no_dnssec:
        return None
    if no_dnssec:
        reason = "no DNSSEC-validating resolver on this host, which DANE needs"
    elif not probe.get("established") and probe.get("errors"):
        reason = probe["errors"][0]  # no connection at all, or the handshake failed
    elif not probe.get("starttls") and not probe.get("wrappermode"):
        reason = "no STARTTLS"
    elif not probe.get("established"):
        reason = "%s, but no TLS session was established" % (
            "SMTPS (wrapper mode)" if probe.get("wrappermode") else "STARTTLS offered")
    else:
        certificate = probe.get("certificate") or {}
        reason = "TLS %s, %s%s" % (probe.get("protocol"), probe.get("trust") or "no session",
                                   ", certificate expired" if certificate.get("expired") else "")
    return "%s cannot take level %s (%s)" % (destination, level, reason)


def check_timeout(timeout):
    if not 0 < timeout <= MAX_TIMEOUT:
        raise InputError("timeout", "%d is not a number of seconds from 1 to %d" % (timeout, MAX_TIMEOUT))
    return timeout


def check_host(host):
    """A host name, IPv4 or IPv6 address; returns it as posttls-finger's ``[host]`` takes it."""
    problem = "%r is not a host name, IPv4 or IPv6 address" % (host,)
    if not isinstance(host, str):
        raise InputError("host", problem)
    if is_host_name(host):
        return host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise InputError("host", problem)
    if "%" in host:  # a scope (fe80::1%eth0) is this host's business, not a destination
        raise InputError("host", problem)
    return str(address)


def check_helo(helo):
    if not is_host_name(helo):
        raise InputError("helo", "%r is not a domain name" % (helo,))
    return helo


def probe_target(destination, host=None, port=None):
    """Return ``(target, key)``: posttls-finger's destination argument and the destination's policy key.

    The port comes from ``port`` or the destination (``[mx.example]:587``), else 25; given in
    both places it must be the same. ``host`` replaces the destination's host, not its port.
    """
    key = normalize_destination(destination)
    own = destination_port(key)
    name = key[:-len(own) - 1] if own is not None else key
    # Whatever normalize_destination lets through, posttls-finger never sees a port out of range.
    if own is not None and own.isdigit() and not 0 < int(own) < 65536:
        raise InputError("destination", "%r names port %s, not a TCP port (1-65535)" % (destination, own))
    if port is not None:
        check_port(port)
        if own is not None and _port_number(own) != port:
            raise InputError("port", "%d differs from the port in destination %r (%s); give the port in one place"
                             % (port, destination, own))
        own = str(port)
    if host is not None:
        return "[%s]:%s" % (check_host(host), own or 25), key
    return (name + ":" + own if own else name), key


def _port_number(port):
    """A port number or service name as a number (None for an unknown service)."""
    if port.isdigit():
        return int(port)
    try:
        return socket.getservbyname(port, "tcp")
    except OSError:
        return None
