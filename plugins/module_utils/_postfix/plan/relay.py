# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Relaying through a smarthost over TLS with SASL: tls_profile's ``relay``, planned (private).

Pure: no Ansible, no I/O. What a relay declaration means for Postfix, as SASL_README
("Enabling SASL authentication in the Postfix SMTP client") and postconf(5) describe it.

Everything that protects the password lives on one master.cf transport of the relay's own,
``relay-tls`` (the smtp client with ``-o`` overrides), so that it binds relay deliveries and
nothing else, and nothing else can weaken it:

- ``smtp_tls_security_level`` (``secure`` by default: the certificate must verify against
  ``smtp_tls_CAfile`` and name the relay before the password is sent) with
  ``smtp_tls_policy_maps`` emptied, so that no policy-table entry for the relay's next hop,
  written by whoever, can lower it;
- the SASL client settings: ``smtp_sasl_auth_enable``, the secret ``smtp_sasl_password_maps``
  (0600, keyed by the next hop as ``relayhost`` writes it, or by the sender with
  ``smtp_sender_dependent_authentication``), ``smtp_sasl_security_options = noplaintext,
  noanonymous`` (postconf(5)'s default: no plaintext mechanism without TLS) and
  ``smtp_sasl_tls_security_options = noanonymous``. Set in main.cf they would offer the
  credentials to every server the host delivers to;
- SMTPS on port 465 (``smtp_tls_wrappermode``, which needs level encrypt or stronger).

main.cf only routes: ``relayhost = [host]:port`` with ``default_transport = relay-tls`` (all
mail), per-sender next hops in ``sender_dependent_relayhost_maps``, or with ``destinations``
only those domains, through entries ``example.com relay-tls:[host]:port`` of a transport table
listed first in ``transport_maps``.
"""

from __future__ import annotations

import json
import os
import re

from ..core.errors import ConfigError, InputError
from ..core.file_names import CONFIG_FILES
from ..core.lines import split_list
from ..model.table import check_key, check_value
from ..model.table_types import ALL_INDEX_SUFFIXES, INDEX_SUFFIXES, check_map_path
from ..model.tls import LEVEL_STRENGTH, check_port, destination_port, normalize_destination

# The master.cf transport of every relay delivery.
RELAY_SERVICE = "relay-tls"
# Debian's bundle of the system's trusted CAs (ca-certificates).
SYSTEM_CA_FILE = "/etc/ssl/certs/ca-certificates.crt"
# Debian splits the SASL mechanisms the client needs (PLAIN, LOGIN, ...) out of libsasl2.
SASL_CLIENT_PACKAGE = "libsasl2-modules"
# Levels that authenticate the relay: a password goes only to the server it was meant for.
VERIFIED_LEVELS = ("verify", "secure")
RELAY_LEVELS = ("encrypt", "verify", "secure", "may", "none")
SECURITY_OPTIONS = ("noplaintext", "noactive", "nodictionary", "noanonymous", "mutual_auth")
# The main.cf parameters a relay owns; turning it off removes them (transport_maps and
# default_transport only lose what the relay put there).
RELAY_PARAMETERS = ("relayhost", "sender_dependent_relayhost_maps")
_MECHANISM = re.compile(r"[A-Za-z0-9_-]{1,20}")
_SENDER = re.compile(r"[^@#\s][^@\s]*@[^@\s]+|@[^@\s]+")
# main.cf parameters that name the transport (and next hop) of a class of mail.
ROUTING_PARAMETERS = ("default_transport", "relay_transport", "virtual_transport", "local_transport",
                      "fallback_transport")
_CONFIG_DIRECTORY = re.compile(r"\$(config_directory\b|\{config_directory\}|\(config_directory\))")
_CONTROL = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")  # a surrogate is a byte that is not UTF-8


class RelayPlan(object):
    """What a relay declaration asks of main.cf, master.cf, the tables and the pre-flight."""

    def __init__(self):
        self.parameters = {}         # main.cf name -> value
        self.absent_parameters = []  # main.cf names to remove
        self.passwords = {}          # password table key -> "username:password" (secret)
        self.sender_relays = {}      # sender -> next hop
        self.transports = {}         # destination domain -> relay-tls:next hop
        self.hops = []               # every next hop the relay sends to
        self.probe = {}              # how to probe them: {"level", "wrappermode", "ca_file"}
        self.service = None          # the relay-tls master.cf declaration
        self.packages = []
        self.warnings = []


def nexthop(host, port, mx_lookup, where):
    """``[host]:port`` (or ``host:port`` with MX lookups), as relayhost and the tables key it."""
    if not isinstance(host, str) or not host.strip():
        raise InputError(where + "host", "the relay's host name or address is required")
    host = host.strip()
    if _CONTROL.search(host):
        raise InputError(where + "host", "%r holds a control character or bytes that are not UTF-8" % host)
    if host.startswith("[") or ":" in host and not _is_ipv6(host):
        raise InputError(where + "host", "%r: give the host alone; the port is its own option" % host)
    check_port(port, where + "port")
    if _is_ipv6(host):
        if mx_lookup:
            raise InputError(where + "mx_lookup", "an address has no MX records")
        host = "ipv6:" + host
    bracketed = host if mx_lookup else "[%s]" % host
    return normalize_destination("%s:%d" % (bracketed, port), where + "host")


def _is_ipv6(host):
    return host.count(":") >= 2


def credentials(username, password, where):
    """``username:password`` as the password table holds it; refused where Postfix would read another."""
    if username is None and password is None:
        return None
    if not username or password is None or password == "":
        raise InputError(where + ("password" if username else "username"),
                         "username and password are given together, neither empty")
    if ":" in username or _CONTROL.search(username) or username != username.strip():
        raise InputError(where + "username", "a SASL username cannot hold ':', a control character, bytes that "
                                             "are not UTF-8 or surrounding spaces (Postfix splits "
                                             "username:password at the first ':')")
    if _CONTROL.search(password):
        raise InputError(where + "password", "the password holds a control character or bytes that are not "
                                             "UTF-8, which a table line cannot carry")
    if password != password.strip(" "):
        raise InputError(where + "password", "the password starts or ends with a space, which postmap would "
                                             "drop: the relay would be sent another password")
    return "%s:%s" % (username, password)


def _sender(sender, where):
    if not isinstance(sender, str) or not _SENDER.fullmatch(sender) or _CONTROL.search(sender):
        raise InputError(where + "sender", "%r is not a sender address (user@example.com) or domain "
                                           "(@example.com)" % (sender,))
    return sender.lower()


def _options(values, where):
    for value in values:
        if value not in SECURITY_OPTIONS:
            raise InputError(where, "%r is not a SASL security option (%s)" % (value, ", ".join(SECURITY_OPTIONS)))
    return ",".join(values)


def previous_hops(current, table_hops):
    """The next hops a relay set up before: main.cf's relayhost and those of its sender and transport tables."""
    hops = []
    for value in [current.get("relayhost") or ""] + list(table_hops):
        try:
            hop = normalize_destination(value.strip()) if value.strip() else None
        except InputError:
            hop = None  # not one of ours (a relayhost list, a typo)
        if hop and hop not in hops:
            hops.append(hop)
    return hops


def transport_next_hop(value):
    """The next hop of a transport table value (``relay-tls:[host]:port`` -> ``[host]:port``)."""
    _transport, sep, hop = value.partition(":")
    return hop if sep else ""


def plan_relay(spec, current, where="relay.", local_domains=(), owned=None, config_dir=None):
    """The RelayPlan of a ``relay`` declaration.

    ``current`` is what main.cf will say without the relay (the file, with this call's other
    declarations applied), ``local_domains`` the domains Postfix delivers here ($mydestination,
    expanded), ``owned`` the main.cf parameters the relay set before (name -> value, from its
    record): only those it ever takes away.
    """
    owned = owned or {}
    plan = RelayPlan()
    for option in ("password_table", "sender_table", "transport_table", "ca_file"):
        check_map_path(spec[option], where + option)
    _leave_a_sasl_client_naming_ours(plan, spec, current, config_dir)
    if spec["state"] == "absent":
        # An empty setting is the default (Debian's main.cf has "relayhost ="): it stays.
        plan.absent_parameters += [name for name in RELAY_PARAMETERS if _owned(name, current, owned)]
        _routing(plan, spec, current, all_mail=False)
        plan.service = relay_service("absent")
        return plan
    _refuse_what_routes_around(spec, current, where)
    level = spec["level"]
    if level in VERIFIED_LEVELS:
        check_ca_file(spec["ca_file"], where + "ca_file")
    wrappermode = spec["wrappermode"] if spec["wrappermode"] is not None else spec["port"] == 465
    main_hop = _plan_hops(plan, spec, where)
    _plan_destinations(plan, spec, main_hop, local_domains, where)
    _check_level(plan, level, wrappermode, bool(plan.passwords), spec["allow_password_without_tls"], where)
    if level == "verify" and plan.passwords and spec["mx_lookup"]:
        plan.warnings.append("relay: level verify with MX lookups checks the certificate against a name from DNS, "
                             "which is not authenticated without DNSSEC; secure (the default) checks the relay's")
    if any(key in plan.sender_relays for key in plan.passwords):
        _refuse_sender_credentials_elsewhere(spec, current, where)
    _refuse_credentials_of_another_relay(plan, current.get("recipient_delimiter") or "", where)
    _check_entries(plan, where)
    plan.probe = {"level": level, "wrappermode": wrappermode, "ca_file": spec["ca_file"]}
    _plan_main_cf(plan, spec, current, owned, main_hop)
    plan.service = relay_service("present", _service_options(plan, spec, level, wrappermode, where))
    if plan.passwords:
        plan.packages.append(SASL_CLIENT_PACKAGE)
    return plan


def _plan_hops(plan, spec, where):
    """The relay's next hop and each sender relay's, with their credentials; returns the relay's."""
    main_hop = nexthop(spec["host"], spec["port"], spec["mx_lookup"], where)
    main_secret = credentials(spec["username"], spec["password"], where)
    plan.hops.append(main_hop)
    for index, item in enumerate(spec["sender_relays"] or []):
        here = "%ssender_relays[%d]." % (where, index)
        sender = _sender(item["sender"], here)
        if sender in plan.sender_relays:
            raise InputError(here + "sender", "%s is given twice" % sender)
        hop = nexthop(item["host"], item["port"], item["mx_lookup"], here)
        plan.sender_relays[sender] = hop
        secret = credentials(item["username"], item["password"], here)
        if secret:
            plan.passwords[sender] = secret
        if hop not in plan.hops:
            plan.hops.append(hop)
    if main_secret:
        plan.passwords[main_hop] = main_secret
    return main_hop


def _plan_destinations(plan, spec, main_hop, local_domains, where):
    """With ``destinations``, only those domains' mail goes through the relay (a transport table)."""
    local = set(domain.lower() for domain in local_domains)
    for destination in spec["destinations"] or []:
        key = normalize_destination(destination, where + "destinations")
        if key.startswith("[") or destination_port(key) is not None:
            raise InputError(where + "destinations", "%r: give mail domains (example.com, .example.com for its "
                                                     "sub-domains), as a transport table holds them" % destination)
        if key.lstrip(".") in local:
            raise InputError(where + "destinations", "%s is delivered on this host (mydestination): its mail would "
                                                     "leave for the relay instead" % key)
        plan.transports[key] = "%s:%s" % (RELAY_SERVICE, main_hop)
    if plan.transports and plan.sender_relays:
        raise InputError(where + "sender_relays", "per-sender relays route all of a sender's mail; they cannot "
                                                  "be combined with destinations")


def _plan_main_cf(plan, spec, current, owned, main_hop):
    """main.cf routes: relayhost (all mail), sender_dependent_relayhost_maps, default_transport, transport_maps."""
    if not plan.transports:
        plan.parameters["relayhost"] = main_hop
    elif _owned("relayhost", current, owned):
        plan.absent_parameters.append("relayhost")  # ours, from when the relay took all mail
    if plan.sender_relays:
        plan.parameters["sender_dependent_relayhost_maps"] = "%s:%s" % (spec["table_type"], spec["sender_table"])
    elif _owned("sender_dependent_relayhost_maps", current, owned):
        plan.absent_parameters.append("sender_dependent_relayhost_maps")
    elif current.get("sender_dependent_relayhost_maps"):
        plan.warnings.append("relay: main.cf's sender_dependent_relayhost_maps (%s), not the relay's, sends some "
                             "senders' mail to other next hops through relay-tls, at the relay's level and without "
                             "the relay's credentials" % current["sender_dependent_relayhost_maps"])
    if not plan.transports and current.get("relay_domains"):
        plan.warnings.append("relay: mail to relay_domains (%s) goes through relay_transport, not relay-tls"
                             % current["relay_domains"])
    _routing(plan, spec, current, all_mail=not plan.transports)


def check_ca_file(path, where):
    """The CA file relay-tls trusts alone at verify and secure must be there: without it every delivery
    to the relay defers ("cannot load Certification Authority data"), and postfix check does not tell."""
    if not os.path.isfile(path):
        raise InputError(where, "%s does not exist or is not a file; install the CAs first (Debian's bundle "
                                "is the package ca-certificates); nothing was changed" % path)


def _service_options(plan, spec, level, wrappermode, where):
    """The -o overrides of relay-tls: the relay's TLS level and its SASL client, for relay mail only.

    No fallback relay (it would be offered a sender's password), no policy table (it could lower
    the level), and the CA file as the only trust anchor: not also main.cf's smtp_tls_CApath,
    nor the system's CAs (tls_append_default_CA), nor main.cf's smtp_tls_trust_anchor_file, with
    which "the root CAs in CAfile and CApath are no longer trusted" (postconf(5)).
    """
    options = [("smtp_tls_security_level", level), ("smtp_tls_policy_maps", ""), ("smtp_fallback_relay", "")]
    if level in VERIFIED_LEVELS:
        options += [("smtp_tls_CAfile", spec["ca_file"]), ("smtp_tls_CApath", ""),
                    ("smtp_tls_trust_anchor_file", ""), ("tls_append_default_CA", "no")]
        # The names the certificate must hold: postconf(5)'s defaults, never main.cf's wider list.
        options.append(("smtp_tls_secure_cert_match", "nexthop,dot-nexthop") if level == "secure"
                       else ("smtp_tls_verify_cert_match", "hostname"))
    if wrappermode:
        options.append(("smtp_tls_wrappermode", "yes"))
    if plan.passwords:
        options += [("smtp_sasl_auth_enable", "yes"),
                    ("smtp_sasl_password_maps", "%s:%s" % (spec["table_type"], spec["password_table"]))]
        for name in ("sasl_security_options", "sasl_tls_security_options"):
            options.append(("smtp_" + name, _options(spec[name], where + name)))
        if any(key in plan.sender_relays for key in plan.passwords):
            options.append(("smtp_sender_dependent_authentication", "yes"))
    mechanisms = spec["mechanisms"] or []
    for mechanism in mechanisms:
        if not _MECHANISM.fullmatch(mechanism):
            raise InputError(where + "mechanisms", "%r is not a SASL mechanism name (PLAIN, LOGIN, ...)" % mechanism)
    if mechanisms and plan.passwords:
        options.append(("smtp_sasl_mechanism_filter", ",".join(mechanism.lower() for mechanism in mechanisms)))
    return options


def _check_entries(plan, where):
    """What each table will hold, checked as a table line must be, naming the relay's option."""
    for table, option in ((plan.passwords, "password"), (plan.sender_relays, "sender_relays"),
                          (plan.transports, "destinations")):
        for key, value in table.items():
            check_key(key, where + option)
            check_value(where + option, value)


def _check_level(plan, level, wrappermode, with_password, allowed, where):
    if wrappermode and LEVEL_STRENGTH[level] < LEVEL_STRENGTH["encrypt"]:
        raise InputError(where + "level", "%s: SMTPS (wrappermode, port 465) needs level encrypt or stronger "
                                          "(postconf(5), smtp_tls_wrappermode)" % level)
    if not with_password:
        return
    if level in ("may", "none"):
        if not allowed:
            raise InputError(where + "level", "%s would send the SASL password in clear text to whoever answers, "
                                              "or strips STARTTLS, on the way to the relay; use secure (the "
                                              "default), verify or encrypt, or set allow_password_without_tls"
                             % level)
        plan.warnings.append("relay: level %s with a password: the password can go out in clear text "
                             "(allow_password_without_tls)" % level)
    elif level == "encrypt":
        plan.warnings.append("relay: level encrypt does not authenticate the relay: a man in the middle with "
                             "any certificate receives the password; secure is the default")


def _refuse_what_routes_around(spec, current, where):
    """A default_transport the relay would replace; what else routes around relay-tls or lowers its
    level is refused on the merged plan (check_planned_state)."""
    transport = (current.get("default_transport") or "smtp").strip()
    if transport not in ("smtp", RELAY_SERVICE) and not spec["destinations"]:
        raise InputError(where + "host", "main.cf sets default_transport = %s, which the relay would replace "
                                         "(and removing the relay would not bring back); set it to smtp, or "
                                         "remove it, first" % transport)


def _owned(name, current, owned):
    """Whether main.cf's ``name`` is the relay's: set, and to the value the relay recorded setting."""
    value = (current.get(name) or "").strip()
    return bool(value) and value == (owned.get(name) or "").strip()


def sender_lookup_keys(sender, delimiters=""):
    """The keys Postfix tries for a sender in sender_dependent_relayhost_maps and, with
    smtp_sender_dependent_authentication, smtp_sasl_password_maps: user+extension@domain,
    user@domain, then @domain (postconf(5), sender_dependent_relayhost_maps), the extension cut
    at the first of ``delimiters`` (recipient_delimiter)."""
    if sender.startswith("@"):
        return [sender]
    local, _at, domain = sender.partition("@")
    keys = [sender]
    cut = min((local.index(char) for char in delimiters if char in local), default=None)
    if cut:
        keys.append("%s@%s" % (local[:cut], domain))
    return keys + ["@" + domain]


def _refuse_credentials_of_another_relay(plan, delimiters, where):
    """A sender relay without credentials whose @domain has some would be sent them.

    Postfix looks the sender up in the password table as in the relay table, user+ext@domain,
    user@domain, then @domain: ``director@example.org`` routed to R1 finds ``@example.org``'s
    password for R2 and offers it to R1 (``director+news@`` finds ``director@``'s). No table
    value means "no credentials", so such a sender is refused.
    """
    for index, (sender, hop) in enumerate(plan.sender_relays.items()):
        if sender in plan.passwords:
            continue
        for key in sender_lookup_keys(sender, delimiters)[1:]:
            if key in plan.passwords and plan.sender_relays.get(key) != hop:
                raise InputError("%ssender_relays[%d].username" % (where, index),
                                 "%s has no credentials of its own, so Postfix would look up %s's and offer them "
                                 "to %s, which is not %s's relay (%s); give %s its own username and password, or "
                                 "send it through %s" % (sender, key, hop, key, plan.sender_relays[key], sender,
                                                         plan.sender_relays[key]))


def _refuse_sender_credentials_elsewhere(spec, current, where):
    """A sender's password is looked up by sender, whatever the next hop: only relays may be reached."""
    ours = "%s:%s" % (spec["table_type"], spec["transport_table"])
    others = [item for item in split_list(current.get("transport_maps") or "") if item != ours]
    if others:
        raise InputError(where + "sender_relays", "per-sender credentials would be offered to any next hop of "
                                                  "transport_maps (%s) reached through relay-tls; give the senders "
                                                  "the relay's own credentials, or remove transport_maps"
                         % ", ".join(others))


def table_paths(value, config_dir):
    """The files a map list (``proxy:hash:${config_directory}/x, texthash:/y``) reads, as absolute
    normalised paths: whatever type or proxy, with $config_directory expanded."""
    paths = []
    for item in split_list(value or ""):
        reference = item
        while re.match(r"(proxy|unionmap|pipemap):", reference):
            reference = reference.split(":", 1)[1]
        _type, sep, path = reference.partition(":")
        if not sep:
            continue
        if config_dir:
            path = _CONFIG_DIRECTORY.sub(lambda _match: config_dir, path)
        if path.startswith("/"):
            paths.append(os.path.normpath(path))
    return paths


def names_table(value, path, config_dir):
    """Whether a map list reads the table at ``path`` (its source), in whatever spelling."""
    return os.path.normpath(path) in table_paths(value, config_dir)


def _leave_a_sasl_client_naming_ours(plan, spec, current, config_dir):
    """A SASL client set in main.cf (the how-to's way) that names the relay's password table goes: it
    would offer the relay's password to every server, at main.cf's level."""
    if not names_table(current.get("smtp_sasl_password_maps"), spec["password_table"], config_dir):
        return
    names = [name for name in sorted(current) if name.startswith("smtp_sasl_") or
             name == "smtp_sender_dependent_authentication"]
    plan.absent_parameters += names
    plan.warnings.append("relay: main.cf's SASL client (%s) named the relay's password table and offered it to "
                         "every server; it is removed, relay-tls carries it" % ", ".join(names))


def check_planned_state(plan, spec, planned, source, where="relay.", config_dir=None):
    """The relay's promises, checked on what main.cf and master.cf will say after this call.

    ``planned`` is main.cf's values after the call, ``source(name)`` the option of this call that
    sets ``name`` ("main.cf" when the file already does; for ``master.cf:relay-tls/unix``, the
    other declaration's master_services that replaces the relay's service, or None). Nothing
    else of the same call (``parameters``, another declaration, a master.cf service) can undo
    what the relay's own plan needs.
    """
    def refuse(name, problem):
        raise InputError(source(name), "%s %s; the relay's TLS and credentials would not hold (%s)"
                         % (name, problem, where[:-1]))

    if spec["state"] == "absent":
        return
    if (planned.get("smtp_tls_per_site") or "").strip():
        refuse("smtp_tls_per_site", "is set (obsolete since Postfix 2.3): its entries override any level for their "
                                    "destinations, relay-tls's too; replace it with smtp_tls_policy_maps")
    if (planned.get("sender_dependent_default_transport_maps") or "").strip():
        refuse("sender_dependent_default_transport_maps", "is set: its entries send a sender's mail around relay-tls")
    for name, value in plan.parameters.items():
        if name != "transport_maps" and (planned.get(name) or "").strip() != value:
            refuse(name, "would be %r, where the relay needs %r" % (planned.get(name) or "", value))
    ours = "%s:%s" % (spec["table_type"], spec["transport_table"])
    if plan.transports and split_list(planned.get("transport_maps") or "")[:1] != [ours]:
        refuse("transport_maps", "would not list the relay's table %s first" % ours)
    if names_table(planned.get("smtp_sasl_password_maps"), spec["password_table"], config_dir):
        refuse("smtp_sasl_password_maps", "names the relay's password table in main.cf, which would offer the "
                                          "relay's password to every server this host delivers to")
    if plan.sender_relays and any(key in plan.sender_relays for key in plan.passwords):
        for name in ROUTING_PARAMETERS:
            transport = (planned.get(name) or "").strip().partition(":")[0]
            if transport == RELAY_SERVICE and not (name == "default_transport" and plan.parameters.get(name)):
                refuse(name, "routes mail through relay-tls to a next hop that is not a relay of the senders, "
                             "where Postfix would offer it a sender's credentials (looked up by sender, whatever "
                             "the next hop)")
    replaced_by = source("master.cf:%s/unix" % RELAY_SERVICE)
    if replaced_by:
        raise InputError(replaced_by, "replaces or removes the relay's master.cf service %s, which carries its "
                                      "level, CA file and credentials" % RELAY_SERVICE)


def relay_service(state, options=()):
    """The relay-tls master.cf declaration (an smtp client, not chrooted, so the CA file is read as given)."""
    return {"service": RELAY_SERVICE, "type": "unix", "state": state, "private": None, "unprivileged": None,
            "chroot": "n" if state == "present" else None, "wakeup": None, "maxproc": None,
            "command": "smtp" if state == "present" else None, "args": [], "options": list(options)}


def _routing(plan, spec, current, all_mail):
    """default_transport and transport_maps: the relay's while it routes, left to others otherwise."""
    if all_mail:
        plan.parameters["default_transport"] = RELAY_SERVICE
    elif (current.get("default_transport") or "").strip() == RELAY_SERVICE:
        plan.absent_parameters.append("default_transport")
    ours = "%s:%s" % (spec["table_type"], spec["transport_table"])
    listed = split_list(current.get("transport_maps") or "")
    wanted = ([ours] if plan.transports else []) + [item for item in listed if item != ours]
    if wanted == listed:
        return
    if wanted:
        plan.parameters["transport_maps"] = ", ".join(wanted)
    else:
        plan.absent_parameters.append("transport_maps")


def needs_sasl_client(spec):
    """Whether a relay declaration sends credentials (and so needs the SASL client mechanisms)."""
    return bool(spec and spec["state"] == "present" and
                (spec["password"] or any(item["password"] for item in spec["sender_relays"] or [])))


# --- what the relay owns ----------------------------------------------------------------------

# Beside main.cf: the main.cf parameters and the files the relay created on this host. Only
# what it lists is ever taken away, never a setting or a table that merely looks like the relay's.
RELAY_RECORD = "mailtls-relay.json"


def record_text(parameters, files):
    """The relay's record: the main.cf values it set (name -> value) and the files it wrote."""
    return json.dumps({"parameters": dict((name, parameters[name]) for name in RELAY_PARAMETERS if name in parameters),
                       "files": list(files)}, indent=1, sort_keys=True) + "\n"


def parse_record(text, path):
    """(parameters, files) of a record's text; a record that is not the relay's is an error naming it."""
    try:
        found = json.loads(text)
        parameters, files = found["parameters"], found["files"]
        valid = isinstance(parameters, dict) and isinstance(files, list) and \
            all(isinstance(value, str) for value in parameters.values()) and \
            all(isinstance(name, str) and name.startswith("/") and os.path.basename(name) not in CONFIG_FILES
                for name in files)
    except (ValueError, KeyError, TypeError):
        valid = False
    if not valid:
        raise ConfigError("%s is not the relay's record of what it owns; move it away to let the relay start a "
                          "new one (nothing it lists is removed then)" % path, path=path)
    return dict((name, value) for name, value in parameters.items() if name in RELAY_PARAMETERS), files


def ownership_before_the_record(spec, current, service_options):
    """(parameters, files) a relay set up before it kept a record: only what relay-tls proves is its own.

    ``service_options`` are the -o options of master.cf's relay-tls (None: no such service, so
    nothing is the relay's). main.cf's relayhost is its while default_transport is relay-tls; a
    table is its while relay-tls or the relay's routing names it at the relay's own path.
    """
    if service_options is None:
        return {}, []
    parameters, tables = {}, []
    if (current.get("default_transport") or "").strip() == RELAY_SERVICE and current.get("relayhost"):
        parameters["relayhost"] = current["relayhost"].strip()
    password_maps = service_options.get("smtp_sasl_password_maps", "")
    if password_maps:
        tables.append(password_maps)
    senders = "%s:%s" % (spec["table_type"], spec["sender_table"])
    if (current.get("sender_dependent_relayhost_maps") or "").strip() == senders:
        parameters["sender_dependent_relayhost_maps"] = senders
        tables.append(senders)
    transports = "%s:%s" % (spec["table_type"], spec["transport_table"])
    if transports in split_list(current.get("transport_maps") or ""):
        tables.append(transports)
    files = []
    for table in tables:
        table_type, _sep, path = table.partition(":")
        if table_type in INDEX_SUFFIXES and path.startswith("/"):
            files += [path + suffix for suffix in [""] + INDEX_SUFFIXES[table_type]]
    return parameters, files


def table_source(path):
    """The table source a file belongs to: itself, or the source beside which postmap built it."""
    for suffix in sorted(ALL_INDEX_SUFFIXES, key=len, reverse=True):
        if path.endswith(suffix):
            return path[:-len(suffix)]
    return path
