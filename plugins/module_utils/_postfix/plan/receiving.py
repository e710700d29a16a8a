# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The receiving side's certificate decisions, pure (private to the collection).

What main.cf says about the server's keys (``smtpd_tls_chain_files`` or the legacy pair), the
SNI table's entries, the DANE TLSA records of the deployed keys, the listeners a self-probe
connects to, and the record of the TLS files Postfix last loaded (so that a certificate
renewed outside Ansible is noticed and Postfix reloaded).
"""

from __future__ import annotations

import re

from ..core.errors import ConfigError, InputError
# Shared with the renewal hook, which runs alone on the host: see model/tls_files.py.
from ..model.tls_files import (CHAIN_FILES, LEGACY_KEY_PAIRS, LEGACY_KEY_PARAMETERS, LOADED_RECORD, SNI_MAPS,
                               changed_since_loaded, file_digests, loaded_key_groups, record_text)

# The names above are this plan's too: the receiving side and the tests find them here.
__all__ = ["CHAIN_FILES", "KEPT_PARAMETERS", "LEGACY_KEY_PAIRS", "LEGACY_KEY_PARAMETERS", "LOADED_RECORD",
           "LOOPBACK", "POSTSCREEN_AFTER_GREETING_TESTS", "SELF_PROBE_WHEN", "SERVICE_PORTS", "SNI_MAPS",
           "WRAPPER_PORTS", "chain_files_value", "changed_since_loaded", "check_tlsa_name", "file_digests",
           "kept_certificate", "kept_files", "kept_groups", "kept_missing", "kept_in_main_cf_words", "listener_options",
           "listener_ports", "postscreen_without_tlsproxy",
           "probe_address", "record_text", "sni_entries", "sni_name", "tls_turned_off_by", "tlsa_record_lines"]

# The listeners Debian's master.cf names by service, and the port each one is.
SERVICE_PORTS = {"smtp": 25, "submission": 587, "submissions": 465, "smtps": 465}
WRAPPER_PORTS = (465,)
LOOPBACK = "127.0.0.1"
SELF_PROBE_WHEN = ("changed", "always", "never")
_ADDRESS = re.compile(r"[0-9.]+\Z")
_DNS_NAME = re.compile(r"(?=.{1,253}\Z)(\*\.)?([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                       r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?\Z")


def chain_files_value(pairs):
    """``smtpd_tls_chain_files``: each key file right before its certificate chain file (postconf(5)).

    A key and its chain in one file is named once: twice, Postfix would load its key again.
    """
    return ", ".join(path for pair in pairs for path in dict.fromkeys((pair["key_file"], pair["cert_file"])))


# --- the host's own certificate, kept when none is given (certificate.keep) ---------------------

# The parameters that name the server's keys and certificates, read from main.cf as planned.
KEPT_PARAMETERS = (CHAIN_FILES,) + LEGACY_KEY_PARAMETERS
_GIVE = ("give certificate.cert_file and certificate.key_file, with their content to install them, or "
         "certificate.self_signed: true for a lab")
_KEPT_NAME = re.compile(r"(?<![\w.\]])((?:chains\[\d+\]\.)?(?:cert|key)_file)\b")


def kept_groups(values):
    """[(parameter, files, mixed)] of the keys main.cf's ``values`` (as planned, expanded) name, as Postfix
    loads them (model/tls_files.py); none: the host has no certificate to keep, said in the options to give."""
    groups = loaded_key_groups(values)
    if not groups:
        raise ConfigError("this host's main.cf names no certificate and key (%s and smtpd_tls_cert_file are empty): "
                          "%s; nothing was changed" % (CHAIN_FILES, _GIVE))
    return groups


def kept_missing(parameter, path):
    """The message for a file main.cf names that is not there."""
    return ConfigError("%s: main.cf names %s, which does not exist; no certificate was given, so the host's own is "
                       "kept: install it, or %s; nothing was changed" % (parameter, path, _GIVE), path=path)


def kept_certificate(groups, chains):
    """The certificate part's options checking the kept keys where they are, and how its messages name them.

    ``chains`` are the chain files' (key_file, cert_file) pairs, read by the side. One legacy pair is
    checked as cert_file and key_file; several (RSA and ECDSA), or chain files, as chains. Returns
    (options, {option name: main.cf parameter}).
    """
    if groups[0][0] == CHAIN_FILES:
        pairs = [(key, cert, CHAIN_FILES, CHAIN_FILES) for key, cert in chains]
    else:
        keys = dict(LEGACY_KEY_PAIRS)
        pairs = [(files[0], files[-1], cert_name, keys[cert_name] if not mixed else cert_name)
                 for cert_name, files, mixed in groups]
    if len(pairs) == 1 and groups[0][0] != CHAIN_FILES:
        key, cert, cert_name, key_name = pairs[0]
        return dict(cert_file=cert, key_file=key), {"cert_file": cert_name, "key_file": key_name}
    names = {}
    for index, (_key, _cert, cert_name, key_name) in enumerate(pairs):
        names.update({"chains[%d].cert_file" % index: cert_name, "chains[%d].key_file" % index: key_name})
    return dict(chains=[dict(key_file=key, cert_file=cert, cert_content=None, key_content=None)
                        for key, cert, _cert_name, _key_name in pairs]), names


def kept_files(options, names):
    """[(main.cf parameter, path)] of every file the kept keys are read from."""
    if options.get("chains"):
        return [(names["chains[%d].%s" % (index, name)], chain[name])
                for index, chain in enumerate(options["chains"]) for name in ("key_file", "cert_file")]
    return [(names[name], options[name]) for name in ("key_file", "cert_file")]


def kept_in_main_cf_words(text, names):
    """A certificate part's message about kept keys, naming main.cf's parameters instead of its options."""
    return "the certificate main.cf names (kept: none was given): " + \
        _KEPT_NAME.sub(lambda match: names.get(match.group(1), match.group(1)), text)


def sni_name(name, where):
    """A name as the SNI table's key: an A-label DNS name, or ``.domain`` for its subdomains."""
    if not isinstance(name, str) or not name:
        raise InputError(where, "a name is empty")
    bare = name[1:] if name.startswith(".") else name
    # RFC 6066 section 3: SNI carries host names, never an address literal.
    if not name.isascii() or not _DNS_NAME.match(bare) or bare.startswith("*") or _ADDRESS.match(bare):
        raise InputError(where, "%r is not a DNS name in A-label form (or .domain for its subdomains); "
                                "postconf(5): SNI lookup keys are IDNA A-labels" % name)
    return name.lower().rstrip(".")


def sni_entries(sni, default_names, default_pairs):
    """The SNI table: each name to its key and chain files; the default certificate's names too.

    postconf(5), tls_server_sni_maps: the table "should also have entries for the domains that
    correspond to the Postfix SMTP server's default certificate(s)" (else a client asking for
    the default name gets an SNI mismatch). A name the user maps explicitly keeps their chains.
    """
    entries = {}
    for index, item in enumerate(sni):
        where = "receiving.sni[%d].names" % index
        files = chain_files_value(item["chains"]).replace(",", "")
        for name in item["names"]:
            key = sni_name(name, where)
            if key in entries and entries[key] != files:
                raise InputError(where, "%s is given twice with different certificates" % key)
            entries[key] = files
    if entries and default_pairs:
        files = chain_files_value(default_pairs).replace(",", "")
        for name in default_names:
            try:
                key = sni_name(name, "certificate")
            except InputError:
                continue  # a default name SNI cannot carry (an IP address, a wildcard) is simply not mapped
            entries.setdefault(key, files)
    return entries


def tlsa_record_lines(names, ports, digests):
    """Zone-file lines ``_25._tcp.mx.example. IN TLSA 3 1 1 <hex>`` (RFC 7671, RFC 7672 section 3.1)."""
    lines = []
    for name in names:
        owner = name.rstrip(".") + "."
        for port in ports:
            for digest in digests:
                lines.append("_%d._tcp.%s IN TLSA 3 1 1 %s" % (port, owner, digest))
    return lines


def check_tlsa_name(name, where):
    if not isinstance(name, str) or not name.isascii() or not _DNS_NAME.match(name) or name.startswith("*"):
        raise InputError(where, "%r is not a host name in A-label form" % (name,))
    return name.lower().rstrip(".")


def probe_address(inet_interfaces, inet_protocols):
    """Where a listener without an address of its own (``smtp``) can be reached from this host: the
    loopback of a protocol Postfix listens on when inet_interfaces includes it, else its first address."""
    interfaces = [item.strip("[]") for item in inet_interfaces.replace(",", " ").split()]
    protocols = inet_protocols.replace(",", " ").split()
    ipv4 = "all" in protocols or "ipv4" in protocols
    if not interfaces or set(interfaces) & {"all", "loopback-only", "localhost", LOOPBACK, "::1"}:
        return LOOPBACK if ipv4 or LOOPBACK in interfaces else "::1"
    return interfaces[0]


def _listeners(master, default_address=LOOPBACK):
    """(address, port, wrappermode, entry) of each enabled inet smtpd or postscreen entry of master.cf."""
    for _key, entries in sorted(master.entries.items()):
        entry = entries[-1]
        if entry.type != "inet" or not entry.command or entry.command[0] not in ("smtpd", "postscreen"):
            continue
        address, _sep, service = entry.service.rpartition(":")
        port = int(service) if service.isdigit() else SERVICE_PORTS.get(service)
        if port is None:
            continue
        address = address.strip("[]") or default_address
        # Postfix's booleans take yes in any case (YES, Yes).
        wrapper = dict(entry.options).get("smtpd_tls_wrappermode", "").strip().lower() == "yes" or \
            port in WRAPPER_PORTS
        yield address, port, wrapper, entry


def listener_options(master, default_address=LOOPBACK):
    """(address, port, wrappermode, {name: value}) of each enabled inet SMTP listener, with its ``-o`` options."""
    return sorted(((address, port, wrapper, dict(entry.options)) for address, port, wrapper, entry
                   in _listeners(master, default_address)), key=lambda item: (item[1], item[0]))


def listener_ports(master, default_address=LOOPBACK):
    """(address, port, wrappermode) of each enabled inet SMTP listener of a parsed master.cf.

    postscreen on port 25 hands clients to smtpd and offers STARTTLS through tlsproxy: it is
    probed like smtpd. A listener without an address (``smtp``) is probed on 127.0.0.1.
    """
    found = [(address, port, wrapper) for address, port, wrapper, _entry in _listeners(master, default_address)]
    return sorted(set(found), key=lambda item: (item[1], item[0]))


# postscreen's after-greeting tests: with any on, postscreen itself speaks SMTP, STARTTLS included,
# through tlsproxy(8) (postscreen(8), POSTSCREEN_README "Turning on the after-220 tests").
POSTSCREEN_AFTER_GREETING_TESTS = ("postscreen_pipelining_enable", "postscreen_non_smtp_command_enable",
                                   "postscreen_bare_newline_enable")


def postscreen_without_tlsproxy(master):
    """Whether master.cf runs postscreen on a listener but no tlsproxy service to offer STARTTLS for it."""
    postscreen = any(entry.command[0] == "postscreen" for _address, _port, _wrapper, entry in _listeners(master))
    tlsproxy = any(entries[-1].command and entries[-1].command[0] == "tlsproxy"
                   for entries in master.entries.values())
    return postscreen and not tlsproxy


def tls_turned_off_by(master, default_address=LOOPBACK):
    """{(address, port): "-o name=value"}: the master.cf override that turns TLS off on a listener.

    postconf(5): security level "none" (or an empty level, which falls back to the obsolete
    smtpd_use_tls, off by default) offers no STARTTLS; postscreen's level defaults to smtpd's.
    """
    found = {}
    for address, port, _wrapper, entry in _listeners(master, default_address):
        options = dict(entry.options)
        names = ["smtpd_tls_security_level"]
        if entry.command[0] == "postscreen":
            names.insert(0, "postscreen_tls_security_level")
        name = next((name for name in names if name in options), None)
        if name is not None and options[name].strip() in ("none", ""):
            found[(address, port)] = "-o %s=%s" % (name, options[name].strip())
    return found
