# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The declarations of one tls_profile call, merged into what main.cf and master.cf must say (private).

Pure: no Ansible, no I/O. Each declaration is one profile's wanted state; merged in order, a
later one wins, except that one with downgrade=false never weakens a level an earlier one asks for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.errors import InputError
from ..model.hardening import hardening_plan
from ..model.main_cf import check_parameter_name, render_value
from ..model.master_cf import FIELDS as MASTER_FIELDS, check_service, wanted_entry
from ..model.parameters import obsolete_warning
from ..model.table import MASK
from ..model.tls import weakens

# main.cf's global levels, which downgrade=false never lowers.
LEVEL_PARAMETERS = ("smtp_tls_security_level", "smtpd_tls_security_level", "lmtp_tls_security_level")
# What one profile declares: the task's own top-level options, and each item of ``declarations``.
DECLARATION_OPTIONS = ("parameters", "absent_parameters", "downgrade", "policy_table", "master_services",
                       "certificate", "relay", "receiving", "hardening", "mta_sts_resolver", "preflight", "name",
                       "state")


@dataclass
class ConfigRequest(object):
    """What the declarations ask of main.cf and master.cf."""

    wanted: dict = field(default_factory=dict)        # main.cf name -> rendered value
    remove: list = field(default_factory=list)        # main.cf names to remove
    list_valued: set = field(default_factory=set)     # names given as lists (written one per line)
    protected: set = field(default_factory=set)       # names a downgrade=false profile set or removed
    services: list = field(default_factory=list)      # (service/type, master.cf entry or None to remove)
    hardening: dict = None                            # the hardening profile chosen and what it sets
    warnings: list = field(default_factory=list)


def declarations_of(params):
    """The task's own declaration (its top-level options) and those of ``declarations``, in order."""
    own = dict((name, params[name]) for name in DECLARATION_OPTIONS)
    own["where"] = ""
    return [own] + [dict(item, where="declarations[%d]." % index)
                    for index, item in enumerate(params["declarations"] or [])]


def the_one(declarations, option, conflict):
    """The one ``option`` the declarations give, None without one; two different ones: ``conflict``."""
    given = [dict(item[option]) for item in declarations if item.get(option)]
    if any(item != given[0] for item in given[1:]):
        raise InputError("declarations", conflict)
    return given[0] if given else None


def merge_config(declarations, version):
    """The ConfigRequest of ``declarations`` on a Postfix of ``version``."""
    request = ConfigRequest()
    hardening = [(item["where"], item["hardening"]) for item in declarations if item.get("hardening")]
    if len(set(name for _where, name in hardening)) > 1:
        raise InputError("declarations", "two profiles choose different hardening profiles (%s); a host has "
                                         "one" % ", ".join("%shardening=%s" % pair for pair in hardening))
    for declaration in declarations:
        if declaration.get("hardening"):
            # Before the declaration's own parameters: a parameter given explicitly wins.
            chosen, dropped = hardening_plan(declaration["hardening"], version)
            request.wanted.update(chosen)
            request.remove.extend(dropped)
            request.hardening = {"profile": declaration["hardening"], "parameters": chosen, "absent": list(dropped)}
        own = _merge_parameters(request, declaration)
        _merge_absent(request, declaration, own)
    request.remove = [name for name in dict.fromkeys(request.remove) if name not in request.wanted]
    request.services = merge_services(declarations)
    return request


def _merge_parameters(request, declaration):
    where, own = declaration["where"], {}
    for name, value in (declaration["parameters"] or {}).items():
        check_parameter_name(name, where + "parameters")
        own[name] = render_value(name, value)
        warning = obsolete_warning(name)
        if warning and warning not in request.warnings:
            request.warnings.append(warning)
        if (not declaration["downgrade"] and name in request.wanted and name in LEVEL_PARAMETERS
                and weakens(request.wanted[name], own[name])):
            request.warnings.append("%s stays %r: %r would weaken it (%sdowngrade=false)"
                                    % (name, request.wanted[name], own[name], where))
            continue
        request.wanted[name] = own[name]
        (request.list_valued.add if isinstance(value, (list, tuple)) else request.list_valued.discard)(name)
        (request.protected.discard if declaration["downgrade"] else request.protected.add)(name)
    return own


def _merge_absent(request, declaration, own):
    where = declaration["where"]
    for name in declaration["absent_parameters"] or []:
        check_parameter_name(name, where + "absent_parameters")
        if name in own:
            raise InputError(where + "absent_parameters", "%s is also in parameters" % name)
        request.remove.append(name)
        if not declaration["downgrade"]:
            request.protected.add(name)  # removing a level lowers it to the default, none


def merge_services(declarations):
    """(key, entry or None) pairs; a later profile's entry for a service replaces an earlier one's."""
    services = {}
    for declaration in declarations:
        seen = set()
        for index, item in enumerate(declaration["master_services"] or []):
            where = "%smaster_services[%d]" % (declaration["where"], index)
            key = "%s/%s" % (item["service"], item["type"])
            if key in seen:
                raise InputError(declaration["where"] + "master_services", "%s is given twice" % key)
            seen.add(key)
            if item["state"] == "absent":
                check_service(item["service"], item["type"])
                services[key] = None
                continue
            if not item["command"]:
                raise InputError(where, "%s: command is required with state=present (for example smtpd)" % key)
            fields = dict((name, item[name]) for name in MASTER_FIELDS)
            services[key] = wanted_entry(item["service"], item["type"], fields, item["command"], item["args"],
                                         item["options"])
    return list(services.items())


def masked_declaration(declaration):
    """A declaration as a result may echo it: every key_content and relay password masked."""
    certificate = declaration.get("certificate")
    if isinstance(certificate, dict):
        hidden = dict(certificate, chains=_masked_chains(certificate.get("chains")))
        if certificate.get("key_content") is not None:
            hidden["key_content"] = MASK
        declaration = dict(declaration, certificate=hidden)
    receiving = declaration.get("receiving")
    if isinstance(receiving, dict) and isinstance(receiving.get("sni"), list):
        sni = [dict(item, chains=_masked_chains(item.get("chains"))) if isinstance(item, dict) else item
               for item in receiving["sni"]]
        declaration = dict(declaration, receiving=dict(receiving, sni=sni))
    relay = declaration.get("relay")
    if isinstance(relay, dict):
        hidden = dict(relay, password=MASK if relay.get("password") is not None else None)
        if isinstance(relay.get("sender_relays"), list):
            hidden["sender_relays"] = [dict(item, password=MASK if item.get("password") is not None else None)
                                       if isinstance(item, dict) else item for item in relay["sender_relays"]]
        declaration = dict(declaration, relay=hidden)
    return declaration


def masked_arguments(arguments):
    """tls_profile's arguments as its result echoes them: its own declaration's secrets and each item's masked."""
    echoed = masked_declaration(arguments)
    if isinstance(echoed.get("declarations"), list):
        echoed["declarations"] = [masked_declaration(item) if isinstance(item, dict) else item
                                  for item in echoed["declarations"]]
    return echoed


def _masked_chains(chains):
    if not isinstance(chains, list):
        return chains
    return [dict(chain, key_content=MASK if chain.get("key_content") is not None else None)
            if isinstance(chain, dict) else chain for chain in chains]
