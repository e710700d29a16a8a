# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the roles ask of mailtls.postfix.tls_profile, mapped from their variables (controller side, pure).

One function per role. Each takes the role's variables without their prefix (``destinations``
for ``tls_forced_destinations``), already templated, and returns what the role's tasks used to
build in Jinja, value for value: a profile role's declaration (an item of tls_profile's
``declarations``), or for the server role the arguments of its tls_profile call. A key whose
variable is empty is left out, never null. The action plugin mailtls.postfix.declare reads the
variables and calls these; tests compare them with the Jinja they replace.
"""

from __future__ import annotations

import difflib
import re

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.parameters import OBSOLETE_PARAMETERS

PROFILE_ROLES = ("tls_receiving", "tls_forced", "tls_opportunistic", "tls_relay")

# The obsolete smtpd parameters the how-to used, which tls_receiving removes: the level and the
# hardening's ciphers replace them. smtpd_tls_eecdh_grade stays: its replacement needs Postfix 3.6.
RECEIVING_OBSOLETE_PARAMETERS = [name for name in OBSOLETE_PARAMETERS
                                 if name.startswith("smtpd_") and name != "smtpd_tls_eecdh_grade"]


class UnknownVariable(ValueError):
    """A role variable the role does not know: a typo that would otherwise run green and do nothing."""


def misspelt_variables(role, given, known):
    """What check_known would say of each name of ``given`` that looks like a misspelt variable of the
    role rather than one of the playbook's own (for a prefix as common as server_)."""
    prefix = role + "_"
    messages = []
    for name in sorted(set(given) - set(known)):
        if difflib.get_close_matches(name[len(prefix):], [known_name[len(prefix):] for known_name in known],
                                     n=1, cutoff=0.85):
            try:
                check_known(role, [name], known)
            except UnknownVariable as error:
                messages.append(str(error))
    return messages


def check_known(role, given, known):
    """Raise UnknownVariable for the first name of ``given`` (full names) that ``known`` lacks."""
    prefix = role + "_"
    for name in sorted(given):
        if name not in known:
            # Compared without the prefix, which every name shares and which would make any two close.
            close = difflib.get_close_matches(name[len(prefix):], sorted(known_name[len(prefix):] for known_name in known
                                                                         if known_name.startswith(prefix)), n=1)
            hint = ("did you mean %s%s?" % (prefix, close[0]) if close
                    else "see ansible-doc -t role mailtls.postfix.%s" % role)
            raise UnknownVariable("%s is not a variable of the role mailtls.postfix.%s (%s); it would be ignored"
                                  % (name, role, hint))


# Jinja's filters as the roles used them, so that a value the argument spec allows (a port
# given as "587", a wrappermode of "yes") maps exactly as it did.

def jinja_int(value):
    """Jinja's ``int`` filter: a number, its text, or 0."""
    try:
        return int(value, 10) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return 0


def ansible_bool(value):
    """A boolean role variable as the roles' argument specs read it (type bool), given as text too (``-e
    name=false``, ``y``, ``on``, ``1``): the declare action checks it against the spec but passes it on as given."""
    return boolean(value, strict=False)


def server_switches(var):
    """The server role's own switches as booleans, for its tasks' and handlers' conditions."""
    return dict((name, ansible_bool(var[name])) for name in ("manage_packages", "manage_service",
                                                             "apply_host_settings"))


def _with(mapping, **optional):
    """``mapping`` with each of ``optional`` whose value is not empty (never a null key)."""
    mapping.update((key, value) for key, value in optional.items() if value)
    return mapping


def tls_forced(var, system_ca_file):
    """The forced destinations' declaration; with a managed MTA-STS resolver, an empty mta_sts_ca_file is the
    system's bundle (``system_ca_file``)."""
    parameters = _with({"smtp_tls_loglevel": var["loglevel"],
                        "smtp_tls_session_cache_database": var["session_cache_database"]},
                       smtp_tls_mandatory_protocols=var["mandatory_protocols"],
                       smtp_tls_servername=var["servername"],
                       # TLSRPT_README: Postfix 3.10+ reports to a collector's socket (the module refuses it
                       # where this Postfix cannot report).
                       smtp_tlsrpt_enable="yes" if var["tlsrpt_socket"] else None,
                       smtp_tlsrpt_socket_name=var["tlsrpt_socket"])
    socketmap = var["mta_sts_socketmap"]
    # As the argument spec accepts them ("false", "no"): the raw text would be true.
    managed, kill_switch = ansible_bool(var["mta_sts"]), ansible_bool(var["mta_sts_kill_switch"])
    # Not managed: released, so that the socketmap of one this role managed before leaves the maps.
    resolver = {"state": "absent"}
    if managed and socketmap:
        raise ValueError("tls_forced_mta_sts and tls_forced_mta_sts_socketmap are both set: the first runs a policy "
                         "server on this host, the second names one of your own, and Postfix would ask both; "
                         "set one of them")
    if managed:
        # RFC 8461 section 4.2: an MTA-STS MX certificate chains to a trusted root; without CAs
        # (postconf(5): smtp_tls_CAfile and smtp_tls_CApath are empty by default) every enforce policy defers.
        parameters = _with(parameters, smtp_tls_CAfile=var["mta_sts_ca_file"] or system_ca_file)
        resolver = {"port": jinja_int(var["mta_sts_port"]), "cache_grace": jinja_int(var["mta_sts_cache_grace"]),
                    "kill_switch": kill_switch}
    parameters.update(var["parameters"])
    # The static table first, the tables already there next, extra_maps last (maps: first): an
    # MTA-STS policy must never override a DANE or static one, and no table of the admin's is
    # dropped (it may hold stronger levels than the role's). The kill switch takes the policy
    # server's socketmap out at once (the managed one's: the module's mta_sts_resolver part).
    wired = socketmap and not kill_switch
    policy_table = _with({"path": var["policy_table"],
                          "destinations": [item for item in var["destinations"] if isinstance(item, str)],
                          "policies": [item for item in var["destinations"] if not isinstance(item, str)],
                          "level": var["level"],
                          "include_subdomains": var["include_subdomains"],
                          "absent": var["removed_destinations"],
                          "maps": "first",
                          "extra_maps": ["socketmap:%s" % socketmap] if wired else []},
                         type=var["table_type"],
                         absent_maps=["socketmap:%s" % socketmap] if socketmap and kill_switch else None)
    preflight = _with({"mode": var["preflight"],
                       "timeout": jinja_int(var["preflight_timeout"]),
                       "host_lookup": var["preflight_host_lookup"]},
                      mta_sts_socketmap=socketmap if wired else None)
    return _with({"parameters": parameters, "policy_table": policy_table, "preflight": preflight},
                 mta_sts_resolver=resolver)


def tls_opportunistic(var):
    parameters = _with({"smtp_tls_loglevel": var["loglevel"],
                        "smtp_tls_session_cache_database": var["session_cache_database"]},
                       smtp_tls_protocols=var["protocols"],
                       smtp_tls_mandatory_protocols=var["mandatory_protocols"],
                       smtp_tls_servername=var["servername"],
                       smtp_tls_security_level="may" if ansible_bool(var["all_mail"]) else None)
    parameters.update(var["parameters"])
    declaration = {"downgrade": False, "parameters": parameters}
    # The policy table only with destinations.
    if var["destinations"]:
        declaration["policy_table"] = _with({"path": var["policy_table"], "destinations": var["destinations"],
                                             "level": "may", "maps": "first"},
                                            type=var["table_type"])
    return declaration


# Where tls_receiving installs (or generates) a certificate given without paths.
INSTALLED_CERT_FILE = "/etc/ssl/certs/mailtls-smtpd.pem"
INSTALLED_KEY_FILE = "/etc/ssl/private/mailtls-smtpd.key"
RECEIVING_CERTIFICATE_VARIABLES = ("chains", "cert_file", "key_file", "cert_content", "key_content", "self_signed")


def tls_receiving(var):
    chains = var["chains"]
    # Chains replace the cert/key pair (the module sets smtpd_tls_chain_files); content keys only
    # when given: one without the other is refused by the module. No certificate given: the host's
    # own, the pair its main.cf names, is kept (checked where it is, never replaced).
    if chains:
        certificate = {"chains": chains}
        pair_parameters = {}
    elif not any(ansible_bool(var[name]) if name == "self_signed" else var[name]
                 for name in RECEIVING_CERTIFICATE_VARIABLES):
        certificate = {"keep": True}
        pair_parameters = {}
    else:
        cert_file, key_file = var["cert_file"] or INSTALLED_CERT_FILE, var["key_file"] or INSTALLED_KEY_FILE
        certificate = _with({"cert_file": cert_file, "key_file": key_file,
                             "self_signed": var["self_signed"],
                             "self_signed_subject": var["self_signed_subject"],
                             "self_signed_days": jinja_int(var["self_signed_days"])},
                            cert_content=var["cert_content"], key_content=var["key_content"])
        pair_parameters = {"smtpd_tls_cert_file": cert_file, "smtpd_tls_key_file": key_file}
    receiving = _with({"sni": var["sni"], "sni_table": var["sni_table"],
                       "self_probe": var["self_probe"], "self_probe_timeout": var["self_probe_timeout"]},
                      renewal_hook=var["renewal_hook"])
    if ansible_bool(var["tlsa"]):
        receiving["dane"] = _with({"names": var["tlsa_names"], "ports": var["tlsa_ports"],
                                   "next_keys": var["tlsa_next_keys"]},
                                  file=var["tlsa_file"])
    if ansible_bool(var["mta_sts"]):
        receiving["mta_sts"] = _with({"mode": var["mta_sts_mode"], "domains": var["mta_sts_domains"],
                                      "mx_names": var["mta_sts_mx_names"],
                                      "other_mx_names": var["mta_sts_other_mx_names"], "mx": var["mta_sts_mx"],
                                      "max_age": jinja_int(var["mta_sts_max_age"]), "tlsrpt_rua": var["tlsrpt_rua"]},
                                     id=var["mta_sts_id"], policy_file=var["mta_sts_policy_file"],
                                     records_file=var["mta_sts_records_file"])
    parameters = {"smtpd_tls_security_level": var["security_level"],
                  "smtpd_tls_CApath": var["ca_path"],
                  "smtpd_tls_session_cache_database": var["session_cache_database"],
                  "smtpd_tls_session_cache_timeout": var["session_cache_timeout"],
                  "smtpd_tls_loglevel": var["loglevel"],
                  "smtpd_tls_received_header": var["received_header"]}
    parameters.update(pair_parameters)
    _with(parameters, smtpd_tls_protocols=var["protocols"],
          smtpd_tls_mandatory_protocols=var["mandatory_protocols"], smtpd_tls_CAfile=var["ca_file"])
    parameters.update(var["parameters"])
    return {"certificate": certificate, "receiving": receiving, "parameters": parameters,
            "absent_parameters": list(RECEIVING_OBSOLETE_PARAMETERS),
            "master_services": [_submission_service(name, var[name + "_options"])
                                for name in ("submission", "submissions") if ansible_bool(var[name])]}


def _submission_service(name, options):
    """A service the role offers. One it does not offer is not declared: the role's record takes back
    one it added, and one it did not add (the admin's own) stays."""
    return {"service": name, "type": "inet", "state": "present",
            "private": "n", "chroot": "y",  # as Debian runs its smtp service
            "command": "smtpd", "options": options}


def tls_relay(var, system_ca_file):
    """The relay's declaration; an empty ca_file is the system's bundle (``system_ca_file``)."""
    relay = {"state": var["state"],
             "host": var["host"],
             "port": jinja_int(var["port"]),
             "mx_lookup": var["mx_lookup"],
             "level": var["level"],
             "allow_password_without_tls": var["allow_password_without_tls"],
             "ca_file": var["ca_file"] or system_ca_file,
             "sender_relays": var["sender_relays"],
             "destinations": var["destinations"],
             "transport_table": var["transport_table"],
             "mechanisms": var["mechanisms"],
             "sasl_security_options": var["sasl_security_options"],
             "sasl_tls_security_options": var["sasl_tls_security_options"],
             "password_table": var["password_table"],
             "sender_table": var["sender_table"]}
    # auto: the module decides by the port. Credentials only when given (both or neither).
    if str(var["wrappermode"]) != "auto":
        try:  # type raw (auto or a bool): what a bool option would refuse, this refuses too
            relay["wrappermode"] = boolean(var["wrappermode"], strict=True)
        except TypeError:
            raise ValueError("tls_relay_wrappermode: %r is neither auto nor a boolean" % (var["wrappermode"],))
    _with(relay, table_type=var["table_type"], username=var["username"], password=var["password"])
    preflight = {"mode": var["preflight"], "timeout": jinja_int(var["preflight_timeout"]),
                 "host_lookup": var["preflight_host_lookup"]}
    return {"relay": relay, "preflight": preflight}


def server(var, declarations, distribution):
    """The arguments of the server role's tls_profile call: host-wide settings, then ``declarations``.

    ``distribution`` is the host's family's data (roles/server/vars/main.yml): the packages that
    add a map type or the SASL client mechanisms.
    """
    switches = server_switches(var)
    host_settings, manage_packages = switches["apply_host_settings"], switches["manage_packages"]
    arguments = {"config_dir": var["config_dir"]}
    # Left out, the module's own default applies: no validation command, no hardening.
    if var["validate"]:
        arguments["validate"] = var["validate"]
    arguments["parameters"] = (_with(dict(var["parameters"]), myhostname=var["myhostname"],
                                     maillog_file=var["maillog_file"]) if host_settings else {})
    arguments["declarations"] = declarations
    if host_settings:
        arguments["hardening"] = var["tls_hardening"]
    arguments.update(migrate_obsolete=ansible_bool(var["migrate_obsolete_tls"]) and host_settings,
                     packages=var["packages"] if manage_packages else [],
                     map_types=var["map_types"] if manage_packages else [],
                     reload=switches["manage_service"],
                     # Started in the same call: no service task's round trip on a fresh host.
                     service_started=switches["manage_service"] and var["service_state"] == "started",
                     map_type_packages=distribution["map_type_packages"],
                     sasl_client_package=distribution["sasl_client_package"])
    if switches["manage_service"]:
        arguments["service_enabled"] = ansible_bool(var["service_enabled"])
    return arguments


def profile_declaration(role, var, distribution):
    """The declaration of the profile role ``role``."""
    if role in ("tls_relay", "tls_forced"):
        return {"tls_relay": tls_relay, "tls_forced": tls_forced}[role](var, distribution["system_ca_file"])
    return {"tls_receiving": tls_receiving, "tls_opportunistic": tls_opportunistic}[role](var)


def owned_declaration(role, var, distribution):
    """The profile role's declaration named for the record of what it wrote on the host (its ``state``:
    absent takes back what the record lists). The relay keeps its own record and state."""
    declaration = profile_declaration(role, var, distribution)
    if role != "tls_relay":
        declaration.update(name=role, state=var["state"])
    return declaration


def server_arguments(var, declarations, distribution):
    """The server role's call: with ``server_config_state: absent`` the host-wide settings it wrote and every
    profile recorded on the host are taken back, and nothing new is set. Named ``server`` (its record of
    what it wrote) only where it sets the host-wide settings or takes them back: a play that leaves them to
    another (``server_apply_host_settings: false``) must not take them back."""
    arguments = server(var, declarations, distribution)
    arguments["state"] = var["config_state"]
    if ansible_bool(var["apply_host_settings"]) or var["config_state"] == "absent":
        arguments["name"] = "server"
    if var["config_state"] == "absent":
        arguments.update(parameters={}, migrate_obsolete=False)
        arguments.pop("hardening", None)
    return arguments


def distribution(distributions, os_family):
    """The data of ``os_family`` (roles/server/vars/main.yml's ``__server_distributions``)."""
    if os_family not in distributions:
        raise ValueError("the roles know no package names or CA bundle for the %s family (roles/server/vars/main.yml "
                         "has %s)" % (os_family, ", ".join(sorted(distributions))))
    return distributions[os_family]


# The roles that end with the host's one tls_profile call: every profile role, and server.
APPLYING_ROLES = tuple("mailtls.postfix." + role for role in PROFILE_ROLES + ("server",))


def a_later_role_applies(play_roles, declaring, run_is_selective):
    """Whether a role listed after the declaring one in the play's ``roles:`` will surely apply.

    ``play_roles`` is the play's ``roles:`` list in order, each ``(fully qualified name,
    conditional)``; ``declaring`` the index of the role that declared (None when it came from
    include_role or import_role, which the list does not hold). The declaring role may leave
    its declaration to a later role only when that role cannot be skipped: no ``when`` of its
    own, named once in the list (Ansible runs a role listed twice with the same parameters
    once), and no ``--tags``, ``--skip-tags``, ``--start-at-task`` or ``--step`` choosing tasks.
    Otherwise it applies now: one call more, never a declaration left unapplied.
    """
    if declaring is None or run_is_selective:
        return False
    names = [name for name, _conditional in play_roles]
    return any(name in APPLYING_ROLES and not conditional and names.count(name) == 1
               for name, conditional in play_roles[declaring + 1:])


# Where each profile role's variables land in tls_profile's options (the functions above): a
# message of the module that names an option is told in the role's words.
_PREFLIGHT = {"preflight.mode": "preflight", "preflight.timeout": "preflight_timeout",
              "preflight.host_lookup": "preflight_host_lookup"}
_TABLE = {"policy_table.path": "policy_table", "policy_table.type": "table_type",
          "policy_table.destinations": "destinations"}
OPTION_VARIABLES = {
    "tls_forced": dict(_PREFLIGHT, **_TABLE, **{
        "preflight.mta_sts_socketmap": "mta_sts_socketmap", "policy_table.policies": "destinations",
        "mta_sts_resolver": "mta_sts", "mta_sts_resolver.port": "mta_sts_port",
        "mta_sts_resolver.cache_grace": "mta_sts_cache_grace", "mta_sts_resolver.kill_switch": "mta_sts_kill_switch",
        "policy_table.level": "level", "policy_table.include_subdomains": "include_subdomains",
        "policy_table.absent": "removed_destinations"}),
    "tls_opportunistic": dict(_TABLE),
    "tls_receiving": dict(
        {"certificate." + name: name for name in ("cert_file", "key_file", "cert_content", "key_content", "self_signed",
                                                  "self_signed_subject", "self_signed_days", "chains")},
        **{"receiving." + name: name for name in ("sni", "sni_table", "self_probe", "self_probe_timeout",
                                                  "renewal_hook")},
        **{"receiving.dane." + name: "tlsa_" + name for name in ("names", "ports", "next_keys", "file")},
        **{"receiving.mta_sts." + name: "mta_sts_" + name for name in (
            "mode", "domains", "mx_names", "other_mx_names", "mx", "max_age", "id", "policy_file", "records_file")},
        **{"receiving.mta_sts": "mta_sts", "receiving.mta_sts.tlsrpt_rua": "tlsrpt_rua"}),
    "tls_relay": dict(_PREFLIGHT, **{"relay." + name: name for name in (
        "state", "host", "port", "mx_lookup", "level", "allow_password_without_tls", "ca_file", "sender_relays",
        "destinations", "transport_table", "mechanisms", "sasl_security_options", "sasl_tls_security_options",
        "password_table", "sender_table", "wrappermode", "table_type", "username", "password")}),
}


def in_role_words(message, roles):
    """``message`` of a tls_profile call with each option it names told as the variable of ``roles``
    (the profile roles whose declarations the call applied), the option kept in brackets.

    An option is named by its path (``preflight.mode``, ``declarations[1].certificate.chains``) or,
    where the engine names a certificate option alone (``self_signed``), by its last part when only
    one of the roles has it. An option two of the roles share is left as the module's.
    """
    variables = {}
    for role in dict.fromkeys(roles or []):
        for path, name in OPTION_VARIABLES.get(role, {}).items():
            for spelling in (path, path.rpartition(".")[2]):
                if spelling == path or "_" in spelling:
                    variables.setdefault(spelling, set()).add("%s_%s" % (role, name))
    unique = dict((spelling, names.pop()) for spelling, names in variables.items() if len(names) == 1)
    if not unique:
        return message
    pattern = re.compile(r"(?<![\w.\[\]/$-])((?:declarations\[\d+\]\.)?)(%s)(?![\w/-]|\.\w)"
                         % "|".join(re.escape(spelling) for spelling in sorted(unique, key=len, reverse=True)))
    return pattern.sub(lambda match: "%s (option %s%s)" % (unique[match.group(2)], match.group(1), match.group(2)),
                       message)
