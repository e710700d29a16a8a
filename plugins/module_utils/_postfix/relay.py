# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Relaying through a smarthost over TLS with SASL: tls_profile's ``relay``, planned (private).

Pure: no Ansible, no I/O. What a relay declaration means for Postfix, as SASL_README
("Enabling SASL authentication in the Postfix SMTP client") and postconf(5) describe it:

- ``relayhost = [host]:port`` (brackets: no MX lookup), and per-sender relays in
  ``sender_dependent_relayhost_maps`` (a table of ``sender [host]:port``);
- the credentials in ``smtp_sasl_password_maps``, keyed by the next hop as ``relayhost``
  writes it, or by the sender with ``smtp_sender_dependent_authentication = yes``; a secret
  table (0600, its index too);
- the TLS level of each relay as an entry of the host's TLS policy table, so that it binds
  the relay and nothing else: ``secure`` by default, which verifies the relay's certificate
  and name before the password is sent;
- ``smtp_sasl_security_options = noplaintext, noanonymous`` (postconf(5)'s default: no
  plaintext mechanism without TLS) and ``smtp_sasl_tls_security_options = noanonymous``
  (PLAIN and LOGIN only inside TLS);
- SMTPS on port 465 (``smtp_tls_wrappermode``, which postconf(5) says needs level encrypt or
  stronger) on a master.cf transport of its own, so that no other delivery is affected;
- with ``destinations``, only mail for those domains goes through the relay: entries
  ``example.com smtp:[host]:port`` of a transport table listed first in ``transport_maps``,
  and no ``relayhost``.
"""

from __future__ import annotations

import re

from .errors import InputError
from .lines import split_list
from .tls import LEVEL_STRENGTH, destination_port, normalize_destination

# The master.cf transport that speaks SMTPS (TLS from the first byte) to the relay.
WRAPPER_SERVICE = "relay-smtps"
# Debian's bundle of the system's trusted CAs (ca-certificates); smtp_tls_CAfile is read before
# the SMTP client enters its chroot jail, where smtp_tls_CApath would not be found (TLS_README).
SYSTEM_CA_FILE = "/etc/ssl/certs/ca-certificates.crt"
# Debian splits the SASL mechanisms the client needs (PLAIN, LOGIN, ...) out of libsasl2.
SASL_CLIENT_PACKAGE = "libsasl2-modules"
# Levels that authenticate the relay: a password goes only to the server it was meant for.
VERIFIED_LEVELS = ("verify", "secure")
RELAY_LEVELS = ("encrypt", "verify", "secure", "may", "none")
SECURITY_OPTIONS = ("noplaintext", "noactive", "nodictionary", "noanonymous", "mutual_auth")
# Every main.cf parameter a relay sets; turning the relay off removes them.
RELAY_PARAMETERS = ("relayhost", "smtp_sasl_auth_enable", "smtp_sasl_password_maps",
                    "smtp_sasl_security_options", "smtp_sasl_tls_security_options",
                    "smtp_sasl_mechanism_filter", "sender_dependent_relayhost_maps",
                    "smtp_sender_dependent_authentication")
_MECHANISM = re.compile(r"[A-Za-z0-9_-]{1,20}")
_SENDER = re.compile(r"[^@\s]*@[^@\s]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class RelayPlan(object):
    """What a relay declaration asks of main.cf, master.cf, the tables and the pre-flight."""

    def __init__(self):
        self.parameters = {}         # main.cf name -> value
        self.absent_parameters = []  # main.cf names to remove
        self.passwords = {}          # password table key -> "username:password" (secret)
        self.sender_relays = {}      # sender -> next hop
        self.transports = {}         # destination domain -> transport:next hop
        self.policies = []           # TLS policy requests of the relays
        self.absent_policies = []    # next hops whose policy entries go
        self.probe = {}              # next hop -> {"wrappermode": bool, "ca_file": path}
        self.services = []           # master.cf service declarations
        self.packages = []
        self.warnings = []
        self.present = False


def nexthop(host, port, mx_lookup, where):
    """``[host]:port`` (or ``host:port`` with MX lookups), as relayhost and the tables key it."""
    if not isinstance(host, str) or not host.strip():
        raise InputError(where + "host", "the relay's host name or address is required")
    host = host.strip()
    if host.startswith("[") or ":" in host and not _is_ipv6(host):
        raise InputError(where + "host", "%r: give the host alone; the port is its own option" % host)
    if not 0 < port < 65536:
        raise InputError(where + "port", "%d is not a TCP port (1-65535)" % port)
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
        raise InputError(where + "username", "a SASL username cannot hold ':', a control character or "
                                             "surrounding spaces (Postfix splits username:password at the first ':')")
    if _CONTROL.search(password.replace("\t", "")) or "\t" in password:
        raise InputError(where + "password", "the password holds a control character, which a table line "
                                             "cannot carry")
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
    return ", ".join(values) if values else ""


def previous_hops(current, table_hops):
    """The next hops a relay set up before: main.cf's relayhost and those of its sender and transport tables."""
    hops = []
    for value in [current.get("relayhost") or ""] + list(table_hops):
        try:
            hop = normalize_destination(value.strip()) if value.strip() else None
        except InputError:
            hop = None  # not one of ours (a relayhost list, a typo): its policy entry is not touched
        if hop and hop not in hops:
            hops.append(hop)
    return hops


def transport_next_hop(value):
    """The next hop of a transport table value (``smtp:[host]:port`` -> ``[host]:port``)."""
    _transport, sep, hop = value.partition(":")
    return hop if sep else ""


def plan_relay(spec, current, table_hops, where="relay."):
    """The RelayPlan of a ``relay`` declaration.

    ``current`` is main.cf's values (name -> value) and ``table_hops`` the next hops of the
    relay's sender and transport tables: what a moved or removed relay leaves behind (its policy
    entries, the wrapper transport while main.cf still routes through it).
    """
    plan = RelayPlan()
    before = previous_hops(current, table_hops)
    if spec["state"] == "absent":
        plan.absent_policies = before
        # An empty setting is the default (Debian's main.cf has "relayhost ="): it stays.
        plan.absent_parameters = [name for name in RELAY_PARAMETERS if current.get(name)]
        _leave_wrapper(plan, current)
        _transport_maps(plan, spec, current)
        return plan
    plan.present = True
    level = spec["level"]
    wrappermode = spec["wrappermode"] if spec["wrappermode"] is not None else spec["port"] == 465
    main_hop = nexthop(spec["host"], spec["port"], spec["mx_lookup"], where)
    main_secret = credentials(spec["username"], spec["password"], where)
    hops = [(main_hop, main_secret, where)]
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
        hops.append((hop, secret, here))
    if main_secret:
        plan.passwords[main_hop] = main_secret
    _check_level(plan, level, wrappermode, bool(plan.passwords), spec["allow_password_without_tls"], where)

    for hop, _secret, _where in hops:
        if all(policy["destination"] != hop for policy in plan.policies):
            plan.policies.append({"destination": hop, "level": level, "attributes": {},
                                  "include_subdomains": False})
            plan.probe[hop] = {"wrappermode": wrappermode, "ca_file": spec["ca_file"]}
    plan.absent_policies = [hop for hop in before if hop not in plan.probe]  # a relay that moved

    for destination in spec["destinations"] or []:
        key = normalize_destination(destination, where + "destinations")
        if key.startswith("[") or destination_port(key) is not None:
            raise InputError(where + "destinations", "%r: give mail domains (example.com, .example.com for its "
                                                     "sub-domains), as a transport table holds them" % destination)
        plan.transports[key] = "%s:%s" % (WRAPPER_SERVICE if wrappermode else "smtp", main_hop)

    parameters = plan.parameters
    if not plan.transports:
        parameters["relayhost"] = main_hop
    if level in VERIFIED_LEVELS:
        parameters["smtp_tls_CAfile"] = spec["ca_file"]
    if plan.passwords:
        parameters["smtp_sasl_auth_enable"] = "yes"
        parameters["smtp_sasl_password_maps"] = "%s:%s" % (spec["table_type"], spec["password_table"])
        for name in ("sasl_security_options", "sasl_tls_security_options"):
            parameters["smtp_" + name] = _options(spec[name], where + name)
        plan.packages.append(SASL_CLIENT_PACKAGE)
    mechanisms = spec["mechanisms"] or []
    for mechanism in mechanisms:
        if not _MECHANISM.fullmatch(mechanism):
            raise InputError(where + "mechanisms", "%r is not a SASL mechanism name (PLAIN, LOGIN, ...)" % mechanism)
    if mechanisms:
        parameters["smtp_sasl_mechanism_filter"] = ", ".join(mechanism.lower() for mechanism in mechanisms)
    if plan.sender_relays:
        parameters["sender_dependent_relayhost_maps"] = "%s:%s" % (spec["table_type"], spec["sender_table"])
    if any(key in plan.sender_relays for key in plan.passwords):
        parameters["smtp_sender_dependent_authentication"] = "yes"
    plan.absent_parameters = [name for name in RELAY_PARAMETERS if name not in parameters]
    _transport_maps(plan, spec, current)

    if wrappermode and not plan.transports:
        parameters["default_transport"] = WRAPPER_SERVICE
    elif current.get("default_transport", "").strip() == WRAPPER_SERVICE:
        plan.absent_parameters.append("default_transport")
    plan.services.append(wrapper_service("present" if wrappermode else "absent"))
    return plan


def _transport_maps(plan, spec, current):
    """transport_maps with the relay's table first while it has destinations, without it otherwise."""
    ours = "%s:%s" % (spec["table_type"], spec["transport_table"])
    listed = split_list(current.get("transport_maps") or "")
    wanted = ([ours] if plan.transports else []) + [item for item in listed if item != ours]
    if wanted == listed:
        return
    if wanted:
        plan.parameters["transport_maps"] = ", ".join(wanted)
    else:
        plan.absent_parameters.append("transport_maps")


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


def wrapper_service(state):
    """The master.cf transport that speaks SMTPS; its floor is encrypt whatever the policy table says."""
    return {"service": WRAPPER_SERVICE, "type": "unix", "state": state, "private": None, "unprivileged": None,
            "chroot": None, "wakeup": None, "maxproc": None, "command": "smtp" if state == "present" else None,
            "args": [], "options": {"smtp_tls_wrappermode": "yes", "smtp_tls_security_level": "encrypt"}
            if state == "present" else {}}


def _leave_wrapper(plan, current):
    if current.get("default_transport", "").strip() == WRAPPER_SERVICE:
        plan.absent_parameters.append("default_transport")
    plan.services.append(wrapper_service("absent"))


def needs_sasl_client(spec):
    """Whether a relay declaration sends credentials (and so needs the SASL client mechanisms)."""
    return bool(spec and spec["state"] == "present" and
                (spec["password"] or any(item["password"] for item in spec["sender_relays"] or [])))
