"""The roles' mapping in Python (plugin_utils/role_declarations.py) against the Jinja it replaced.

The reference is the Jinja of the roles' task files before issue 19's step 4, copied verbatim
below, rendered with ansible's own Templar. For every role, each pair of its variables in every
combination of the values listed (the rest at their defaults), and a seeded sample of all of
them at once, must map to the same value, key for key: what the roles pass to tls_profile is
unchanged for every input the argument specs allow.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest
import yaml

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from ansible_collections.mailtls.postfix.plugins.plugin_utils import role_declarations

try:  # ansible-core 2.19 templates only trusted text; before it, all text
    from ansible.template import trust_as_template
except ImportError:  # pragma: no cover
    def trust_as_template(value):
        return value

ROLES = Path(__file__).resolve().parents[4] / "roles"
DISTRIBUTION = yaml.safe_load((ROLES / "server" / "vars" / "main.yml").read_text())["__server_distributions"]["Debian"]
# tls_relay_ca_file's default before it became "" (the system bundle of the distribution data).
OLD_RELAY_CA_FILE = "/etc/ssl/certs/ca-certificates.crt"
# tls_receiving's certificate paths before they became "" (issue 23: given no certificate at all,
# the role keeps the host's own; given content or self_signed without paths, it uses these).
OLD_RECEIVING_CERT_FILE = "/etc/ssl/certs/mailtls-smtpd.pem"
OLD_RECEIVING_KEY_FILE = "/etc/ssl/private/mailtls-smtpd.key"

# --- the reference: the task files as they were ----------------------------------------------

OLD_TLS_FORCED_DECLARE = r"""
---
# This role's wanted state, declared for the host (controller-only); the server role's
# tasks_from=apply applies every declaration of the host in one call.
- name: Declare this role's wanted state
  ansible.builtin.include_role:
    name: mailtls.postfix.server
    tasks_from: declare
  vars:
    server_declaration:
      parameters: >-
        {{ {'smtp_tls_loglevel': tls_forced_loglevel,
            'smtp_tls_session_cache_database': tls_forced_session_cache_database}
           | combine({'smtp_tls_mandatory_protocols': tls_forced_mandatory_protocols}
                     if tls_forced_mandatory_protocols else {})
           | combine({'smtp_tls_servername': tls_forced_servername} if tls_forced_servername else {})
           | combine(tls_forced_parameters) }}
      # Keys whose role variable is empty are left out (never null: before ansible-core 2.19 a
      # template renders None as the string "None").
      policy_table: >-
        {{ {'path': tls_forced_policy_table,
            'destinations': tls_forced_destinations | select('string') | list,
            'policies': tls_forced_destinations | reject('string') | list,
            'level': tls_forced_level,
            'include_subdomains': tls_forced_include_subdomains,
            'absent': tls_forced_removed_destinations,
            'maps': 'first',
            'extra_maps': ['socketmap:' ~ tls_forced_mta_sts_socketmap] if tls_forced_mta_sts_socketmap else []}
           | combine({'type': tls_forced_table_type} if tls_forced_table_type else {}) }}
      # Since session 8: maps first (the admin's tables kept, after ours, before extra_maps).
      preflight: >-
        {{ {'mode': tls_forced_preflight,
            'timeout': tls_forced_preflight_timeout | int,
            'host_lookup': tls_forced_preflight_host_lookup}
           | combine({'mta_sts_socketmap': tls_forced_mta_sts_socketmap} if tls_forced_mta_sts_socketmap else {}) }}
"""

OLD_TLS_OPPORTUNISTIC_DECLARE = r"""
---
# This role's wanted state, declared for the host (controller-only); the server role's
# tasks_from=apply applies every declaration of the host in one call.
- name: Declare this role's wanted state
  ansible.builtin.include_role:
    name: mailtls.postfix.server
    tasks_from: declare
  vars:
    # The policy table only with destinations; no key is ever null (before ansible-core 2.19 a
    # template renders None as the string "None").
    server_declaration: >-
      {{ {'downgrade': false,
          'parameters': {'smtp_tls_loglevel': tls_opportunistic_loglevel,
                         'smtp_tls_session_cache_database': tls_opportunistic_session_cache_database}
                        | combine({'smtp_tls_protocols': tls_opportunistic_protocols}
                                  if tls_opportunistic_protocols else {})
                        | combine({'smtp_tls_mandatory_protocols': tls_opportunistic_mandatory_protocols}
                                  if tls_opportunistic_mandatory_protocols else {})
                        | combine({'smtp_tls_servername': tls_opportunistic_servername}
                                  if tls_opportunistic_servername else {})
                        | combine({'smtp_tls_security_level': 'may'} if tls_opportunistic_all_mail else {})
                        | combine(tls_opportunistic_parameters)}
         | combine({'policy_table': {'path': tls_opportunistic_policy_table,
                                     'destinations': tls_opportunistic_destinations, 'level': 'may',
                                     'maps': 'first'}
                                    | combine({'type': tls_opportunistic_table_type}
                                              if tls_opportunistic_table_type else {})}
                   if tls_opportunistic_destinations else {}) }}
"""

OLD_TLS_RECEIVING_DECLARE = r"""
---
# This role's wanted state, declared for the host (controller-only); the server role's
# tasks_from=apply applies every declaration of the host in one call.
- name: Declare this role's wanted state
  ansible.builtin.include_role:
    name: mailtls.postfix.server
    tasks_from: declare
  vars:
    server_declaration:
      # Content keys only when given (never null: before ansible-core 2.19 a template renders
      # None as the string "None"); one without the other is refused by the module.
      certificate: >-
        {{ {'chains': tls_receiving_chains}
           if tls_receiving_chains else
           {'cert_file': tls_receiving_cert_file,
            'key_file': tls_receiving_key_file,
            'self_signed': tls_receiving_self_signed,
            'self_signed_subject': tls_receiving_self_signed_subject,
            'self_signed_days': tls_receiving_self_signed_days | int}
           | combine({'cert_content': tls_receiving_cert_content} if tls_receiving_cert_content else {})
           | combine({'key_content': tls_receiving_key_content} if tls_receiving_key_content else {}) }}
      receiving: >-
        {{ {'sni': tls_receiving_sni, 'sni_table': tls_receiving_sni_table,
            'self_probe': tls_receiving_self_probe, 'self_probe_timeout': tls_receiving_self_probe_timeout}
           | combine({'renewal_hook': tls_receiving_renewal_hook} if tls_receiving_renewal_hook else {})
           | combine({'dane': {'names': tls_receiving_tlsa_names, 'ports': tls_receiving_tlsa_ports,
                               'next_keys': tls_receiving_tlsa_next_keys}
                              | combine({'file': tls_receiving_tlsa_file} if tls_receiving_tlsa_file else {})}
                     if tls_receiving_tlsa else {}) }}
      # With chains, smtpd_tls_chain_files replaces the cert/key pair (the module sets it).
      parameters: >-
        {{ {'smtpd_tls_security_level': tls_receiving_security_level,
            'smtpd_tls_CApath': tls_receiving_ca_path,
            'smtpd_tls_session_cache_database': tls_receiving_session_cache_database,
            'smtpd_tls_session_cache_timeout': tls_receiving_session_cache_timeout,
            'smtpd_tls_loglevel': tls_receiving_loglevel,
            'smtpd_tls_received_header': tls_receiving_received_header}
           | combine({} if tls_receiving_chains else {'smtpd_tls_cert_file': tls_receiving_cert_file,
                                                      'smtpd_tls_key_file': tls_receiving_key_file})
           | combine({'smtpd_tls_protocols': tls_receiving_protocols} if tls_receiving_protocols else {})
           | combine({'smtpd_tls_mandatory_protocols': tls_receiving_mandatory_protocols}
                     if tls_receiving_mandatory_protocols else {})
           | combine({'smtpd_tls_CAfile': tls_receiving_ca_file} if tls_receiving_ca_file else {})
           | combine(tls_receiving_parameters) }}
      # The obsolete parameters the how-to used; the levels above replace them.
      absent_parameters: [smtpd_use_tls, smtpd_enforce_tls, smtpd_tls_cipherlist]
      # Since issue 23, a service not offered is not declared: the role's record takes back one it
      # added, and one it did not add stays.
      master_services: >-
        {{ ([{'service': 'submission', 'type': 'inet', 'state': 'present', 'private': 'n', 'chroot': 'y',
              'command': 'smtpd', 'options': tls_receiving_submission_options}] if tls_receiving_submission else [])
           + ([{'service': 'submissions', 'type': 'inet', 'state': 'present', 'private': 'n', 'chroot': 'y',
                'command': 'smtpd', 'options': tls_receiving_submissions_options}] if tls_receiving_submissions
              else []) }}
"""

OLD_TLS_RELAY_DECLARE = r"""
---
# This role's wanted state, declared for the host (controller-only); the server role's
# tasks_from=apply applies every declaration of the host in one call. The module decides the
# parameters, tables, transport and policy entries (plugins/module_utils/_postfix/relay.py).
- name: Declare this role's wanted state
  ansible.builtin.include_role:
    name: mailtls.postfix.server
    tasks_from: declare
  vars:
    # Credentials only when given (never null: before ansible-core 2.19 a template renders None
    # as the string "None"); the module refuses one without the other.
    server_declaration:
      relay: >-
        {{ {'state': tls_relay_state,
            'host': tls_relay_host,
            'port': tls_relay_port | int,
            'mx_lookup': tls_relay_mx_lookup,
            'level': tls_relay_level,
            'allow_password_without_tls': tls_relay_allow_password_without_tls,
            'ca_file': tls_relay_ca_file,
            'sender_relays': tls_relay_sender_relays,
            'destinations': tls_relay_destinations,
            'transport_table': tls_relay_transport_table,
            'mechanisms': tls_relay_mechanisms,
            'sasl_security_options': tls_relay_sasl_security_options,
            'sasl_tls_security_options': tls_relay_sasl_tls_security_options,
            'password_table': tls_relay_password_table,
            'sender_table': tls_relay_sender_table}
           | combine({'wrappermode': tls_relay_wrappermode | bool} if tls_relay_wrappermode | string != 'auto' else {})
           | combine({'table_type': tls_relay_table_type} if tls_relay_table_type else {})
           | combine({'username': tls_relay_username} if tls_relay_username else {})
           | combine({'password': tls_relay_password} if tls_relay_password else {}) }}
      preflight:
        mode: "{{ tls_relay_preflight }}"
        timeout: "{{ tls_relay_preflight_timeout | int }}"
        host_lookup: "{{ tls_relay_preflight_host_lookup }}"
"""

# The tls_profile task of roles/server/tasks/apply.yml (its arguments).
OLD_SERVER_APPLY = r"""
- name: Apply the wanted Postfix state in one call
  mailtls.postfix.tls_profile: &server_profile_arguments
    config_dir: "{{ server_config_dir }}"
    validate: "{{ server_validate or omit }}"
    parameters: >-
      {{ (server_parameters
          | combine({'myhostname': server_myhostname} if server_myhostname else {})
          | combine({'maillog_file': server_maillog_file} if server_maillog_file else {}))
         if server_apply_host_settings else {} }}
    declarations: "{{ __server_declarations }}"
    hardening: "{{ server_tls_hardening if server_apply_host_settings else omit }}"
    migrate_obsolete: "{{ server_migrate_obsolete_tls and server_apply_host_settings }}"
    packages: "{{ server_packages if server_manage_packages else [] }}"
    map_types: "{{ server_map_types if server_manage_packages else [] }}"
    reload: "{{ server_manage_service }}"
  register: server_state
"""


def render(template_yaml, path, variables):
    """The value at ``path`` of the YAML, rendered with ansible's Templar over ``variables``."""
    node = yaml.safe_load(template_yaml)
    for key in path:
        node = node[key]
    templar = Templar(loader=DataLoader(), variables=trusted(variables))
    return templar.template(trusted(node))


def trusted(value):
    """Text trusted as a template, as ansible trusts a playbook's and a role's own files."""
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return dict((key, trusted(item)) for key, item in value.items())
    if isinstance(value, list):
        return [trusted(item) for item in value]
    return value


def defaults(role):
    return yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text())


# --- the variable combinations ------------------------------------------------------------------

SECRET_KEY = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"
CERT = "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n"

# Values besides the default, per variable (without the role's prefix): empty and set, each
# type the argument spec accepts (a number as text too), and the choices a decision turns on.
VALUES = {
    "tls_forced": {
        "destinations": [["partner.example"],
                         ["a.example", {"destination": "b.example", "level": "secure",
                                        "attributes": {"match": ["nexthop"]}, "include_subdomains": False}],
                         [{"destination": "dane.example", "level": "dane"}]],
        "level": ["secure"],
        "include_subdomains": [False],
        "mandatory_protocols": [[">=TLSv1.2"]],
        "servername": ["hostname"],
        "mta_sts_socketmap": ["inet:127.0.0.1:8461:postfix"],
        "table_type": ["lmdb"],
        "parameters": [{"smtp_tls_loglevel": 2, "smtp_tls_servername": "nexthop"}],
        "preflight": ["skip", "warn"],
        "preflight_timeout": ["45", 5],
        "preflight_host_lookup": ["native"],
        "removed_destinations": [["old.example"]],
        "policy_table": ["/etc/postfix/other_policy"],
        "loglevel": [0, "2"],
    },
    "tls_opportunistic": {
        "destinations": [["legacy.example"], ["a.example", ".b.example"]],
        "all_mail": [False],
        "protocols": [[">=TLSv1"]],
        "mandatory_protocols": [[">=TLSv1.2"]],
        "servername": ["nexthop"],
        "table_type": ["cdb"],
        "parameters": [{"smtp_tls_security_level": "encrypt", "smtp_tls_note_starttls_offer": "yes"}],
        "policy_table": ["/etc/postfix/other_policy"],
        "loglevel": [2],
    },
    "tls_receiving": {
        "chains": [[{"cert_file": "/etc/ssl/rsa.pem", "key_file": "/etc/ssl/rsa.key"},
                    {"cert_file": "/etc/ssl/ec.pem", "key_file": "/etc/ssl/ec.key",
                     "cert_content": CERT, "key_content": SECRET_KEY}]],
        "cert_file": ["/etc/letsencrypt/live/mx.example/fullchain.pem"],
        "key_file": ["/etc/letsencrypt/live/mx.example/privkey.pem"],
        "cert_content": [CERT],
        "key_content": [SECRET_KEY],
        "self_signed": [True],
        "self_signed_subject": ["/CN=mx.example"],
        "self_signed_days": ["30", 7],
        "renewal_hook": ["/etc/letsencrypt/renewal-hooks/deploy/mailtls-postfix"],
        "tlsa": [True],
        "tlsa_names": [["mx.example"]],
        "tlsa_ports": [[25, 465]],
        "tlsa_file": ["/tmp/tlsa.zone"],
        "tlsa_next_keys": [["/etc/ssl/next.key"]],
        "sni": [[{"names": ["mail.example"], "chains": [{"cert_file": "/a.pem", "key_file": "/a.key"}]}]],
        "self_probe": ["never"],
        "protocols": [[">=TLSv1"]],
        "mandatory_protocols": [[">=TLSv1.2"]],
        "ca_file": ["/etc/ssl/client-ca.pem"],
        "security_level": ["encrypt"],
        "received_header": [False, "yes"],
        "parameters": [{"smtpd_tls_cert_file": "/override.pem", "smtpd_tls_ask_ccert": "yes"}],
        "submission": [True],
        "submissions": [True],
        "submission_options": [{"syslog_name": "postfix/sub"}],
    },
    "tls_relay": {
        "state": ["absent"],
        "host": ["smtp.example"],
        "port": [465, "465", "2525"],
        "mx_lookup": [True],
        # Not "y": the old Jinja's bool filter read it as false (deprecated: an error from ansible-core 2.23);
        # it is true now, as a bool option reads it (test_service_keep_unit.py's D5).
        "wrappermode": [True, False, "yes", "no", "true", "False", "on", 1, 0],
        "level": ["encrypt"],
        "allow_password_without_tls": [True],
        "ca_file": ["/etc/ssl/private-ca.pem"],
        "username": ["user@example.org"],
        "password": ["s3cret"],
        "sender_relays": [[{"sender": "@example.org", "host": "smtp.example.org", "username": "u",
                            "password": "p"}]],
        "destinations": [["example.com", ".example.com"]],
        "mechanisms": [["PLAIN"]],
        "table_type": ["lmdb"],
        "preflight": ["skip"],
        "preflight_timeout": ["10"],
    },
    "server": {
        "apply_host_settings": [False],
        "manage_packages": [False],
        "validate": [""],
        "myhostname": ["mx.example"],
        "maillog_file": ["/var/log/postfix.log"],
        "migrate_obsolete_tls": [False],
        "parameters": [{"myhostname": "from-parameters.example", "inet_protocols": "ipv4"}],
        "map_types": [["lmdb", "cdb"]],
        "packages": [["postfix", "postfix-doc"]],
        "manage_service": [False],
        "tls_hardening": ["modern"],
        "config_dir": ["/etc/postfix-out"],
    },
}


# The variables the Jinja decided on (an if, a combine, a filter): each pair of them in every
# combination of their values. The others are varied one at a time, and all at once in a sample.
DECISIVE = {
    "tls_forced": {"destinations", "mandatory_protocols", "servername", "mta_sts_socketmap", "table_type",
                   "parameters", "preflight_timeout", "loglevel"},
    "tls_opportunistic": {"destinations", "all_mail", "protocols", "mandatory_protocols", "servername",
                          "table_type", "parameters"},
    "tls_receiving": {"chains", "cert_file", "key_file", "cert_content", "key_content", "self_signed",
                      "self_signed_days", "renewal_hook", "tlsa",
                      "tlsa_file", "protocols", "mandatory_protocols", "ca_file", "parameters", "submission",
                      "submissions"},
    "tls_relay": {"port", "wrappermode", "ca_file", "table_type", "username", "password", "preflight_timeout"},
    "server": {"apply_host_settings", "manage_packages", "validate", "myhostname", "maillog_file",
               "migrate_obsolete_tls", "parameters", "map_types"},
}


def combinations(role):
    """Each pair of decisive variables in every combination of their values, each other value once, and a sample."""
    values = dict((name, [None] + options) for name, options in VALUES[role].items())  # None: the default
    found = [{}]
    for first, second in itertools.combinations(sorted(DECISIVE[role]), 2):
        for one, two in itertools.product(values[first], values[second]):
            found.append(dict(((first, one), (second, two))))
    for name in sorted(set(values) - DECISIVE[role]):
        found.extend({name: value} for value in values[name][1:])
    chance = random.Random(19)
    found.extend(dict((name, chance.choice(options)) for name, options in values.items()) for _sample in range(40))
    return [dict((name, value) for name, value in case.items() if value is not None) for case in found]


def role_variables(role, case):
    """The role's variables (full names) for ``case``: its defaults, changed by the case."""
    variables = defaults(role)
    variables.update(("%s_%s" % (role, name), value) for name, value in case.items())
    return variables


def python_side(role, variables, templar_vars):
    """What the action passes to role_declarations: the role's variables templated, prefix stripped."""
    templar = Templar(loader=DataLoader(), variables=trusted(templar_vars))
    prefix = role + "_"
    return dict((name[len(prefix):], value) for name, value in templar.template(trusted(variables)).items()
                if name.startswith(prefix))


HOST = {"inventory_hostname": "mx1.example"}


@pytest.mark.parametrize("role", ["tls_forced", "tls_opportunistic", "tls_receiving"])
def test_a_profile_declaration_is_what_the_jinja_made(role):
    old = globals()["OLD_%s_DECLARE" % role.upper()]
    for case in combinations(role):
        variables = role_variables(role, case)
        everything = dict(HOST, **variables)
        reference, keep = receiving_reference(variables) if role == "tls_receiving" else (variables, False)
        expected = render(old, [0, "vars", "server_declaration"], dict(HOST, **reference))
        if keep:
            expected["certificate"] = {"keep": True}
        found = role_declarations.profile_declaration(role, python_side(role, variables, everything), DISTRIBUTION)
        # Newer than the Jinja: tls_forced releases a resolver it managed before (none in these cases).
        if role == "tls_forced":
            assert found.pop("mta_sts_resolver") == {"state": "absent"}, case
        assert found == expected, case
        assert_same_types(found, expected, case)


def receiving_reference(variables):
    """tls_receiving's variables as the old Jinja needs them to make the new mapping, and whether the case
    keeps the host's certificate: given any certificate variable, the old defaults for a path left empty;
    given none, the Jinja's chains branch (no smtpd_tls_cert_file or smtpd_tls_key_file in parameters),
    whose certificate part becomes {"keep": true}."""
    reference = dict(variables)
    keep = not any(variables["tls_receiving_" + name] for name in role_declarations.RECEIVING_CERTIFICATE_VARIABLES)
    reference["tls_receiving_cert_file"] = variables["tls_receiving_cert_file"] or OLD_RECEIVING_CERT_FILE
    reference["tls_receiving_key_file"] = variables["tls_receiving_key_file"] or OLD_RECEIVING_KEY_FILE
    if keep:
        reference["tls_receiving_chains"] = [{"cert_file": "/kept.pem", "key_file": "/kept.key"}]
    return reference, keep


def test_a_receiving_role_given_no_certificate_keeps_the_hosts():
    variables = role_variables("tls_receiving", {})
    found = role_declarations.profile_declaration("tls_receiving", python_side("tls_receiving", variables,
                                                                               dict(HOST, **variables)), DISTRIBUTION)
    assert found["certificate"] == {"keep": True}
    assert not set(found["parameters"]) & {"smtpd_tls_cert_file", "smtpd_tls_key_file", "smtpd_tls_chain_files"}
    for given in ({"self_signed": True}, {"cert_content": CERT, "key_content": SECRET_KEY}):
        variables = role_variables("tls_receiving", given)
        found = role_declarations.profile_declaration("tls_receiving", python_side(
            "tls_receiving", variables, dict(HOST, **variables)), DISTRIBUTION)
        assert (found["certificate"]["cert_file"], found["certificate"]["key_file"]) == \
            (OLD_RECEIVING_CERT_FILE, OLD_RECEIVING_KEY_FILE)
        assert found["parameters"]["smtpd_tls_cert_file"] == OLD_RECEIVING_CERT_FILE


def test_the_relay_declaration_is_what_the_jinja_made():
    for case in combinations("tls_relay"):
        variables = role_variables("tls_relay", case)
        reference = dict(variables)
        if not reference["tls_relay_ca_file"]:  # the old default: the system bundle
            reference["tls_relay_ca_file"] = OLD_RELAY_CA_FILE
        expected = render(OLD_TLS_RELAY_DECLARE, [0, "vars", "server_declaration"], dict(HOST, **reference))
        found = role_declarations.profile_declaration(
            "tls_relay", python_side("tls_relay", variables, dict(HOST, **variables)), DISTRIBUTION)
        assert found == expected, case
        assert_same_types(found, expected, case)


def test_the_server_arguments_are_what_the_jinja_made():
    declarations = [{"parameters": {"smtp_tls_loglevel": 1}}, {"relay": {"host": "smtp.example", "password": "p"}}]
    for case in combinations("server"):
        variables = role_variables("server", case)
        expected = render(OLD_SERVER_APPLY, [0, "mailtls.postfix.tls_profile"],
                          dict(HOST, __server_declarations=declarations, **variables))
        found = role_declarations.server(python_side("server", variables, dict(HOST, **variables)), declarations,
                                         DISTRIBUTION)
        # The distribution data the module had as constants is passed now.
        assert found.pop("map_type_packages") == DISTRIBUTION["map_type_packages"]
        assert found.pop("sasl_client_package") == DISTRIBUTION["sasl_client_package"]
        # The service the role's own task kept is started and enabled by the same call now.
        manage = role_declarations.ansible_bool(variables["server_manage_service"])
        assert found.pop("service_started") is (manage and variables["server_service_state"] == "started"), case
        assert found.pop("service_enabled", None) == \
            (role_declarations.ansible_bool(variables["server_service_enabled"]) if manage else None), case
        assert found == expected, case
        assert_same_types(found, expected, case)


def assert_same_types(found, expected, case):
    """Equal is not enough where 1 == True: the same type at every place, and keys in the same order."""
    assert type(found) is type(expected) or (isinstance(found, type(expected)) or isinstance(expected, type(found))), \
        (case, found, expected)
    if isinstance(found, dict):
        assert list(found) == list(expected), case
        for key in found:
            assert_same_types(found[key], expected[key], case)
    elif isinstance(found, list):
        for one, other in zip(found, expected):
            assert_same_types(one, other, case)
    elif isinstance(found, (bool, int)):
        assert isinstance(found, bool) == isinstance(expected, bool), (case, found, expected)


def test_the_combinations_cover_each_decision():
    """The table is worth something: each role's variables are all varied, and the cases are many."""
    for role in VALUES:
        assert len(combinations(role)) > 100
        unknown = set(VALUES[role]) - set(name[len(role) + 1:] for name in defaults(role))
        assert not unknown and DECISIVE[role] <= set(VALUES[role]), unknown


def test_receiving_removes_the_obsolete_parameters_the_how_to_used():
    assert role_declarations.RECEIVING_OBSOLETE_PARAMETERS == ["smtpd_use_tls", "smtpd_enforce_tls",
                                                               "smtpd_tls_cipherlist"]


@pytest.mark.parametrize("given, message", [
    (["tls_forced_destination"], "tls_forced_destination is not a variable of the role mailtls.postfix.tls_forced "
                                 "(did you mean tls_forced_destinations?)"),
    (["tls_forced_mandatory_protocol"], "(did you mean tls_forced_mandatory_protocols?)"),
    (["tls_forced_level", "tls_forced_xyz"], "tls_forced_xyz is not a variable of the role mailtls.postfix.tls_forced "
                                             "(see ansible-doc -t role mailtls.postfix.tls_forced); it would be ignored"),
])
def test_an_unknown_variable_is_named_with_the_closest_known_one(given, message):
    known = set("tls_forced_" + name for name in VALUES["tls_forced"])
    with pytest.raises(role_declarations.UnknownVariable) as raised:
        role_declarations.check_known("tls_forced", given, known)
    assert message in str(raised.value)


def test_known_variables_pass():
    role_declarations.check_known("tls_forced", ["tls_forced_level"], {"tls_forced_level"})


def test_a_family_without_data_is_refused():
    with pytest.raises(ValueError, match="no package names or CA bundle for the RedHat family"):
        role_declarations.distribution({"Debian": DISTRIBUTION}, "RedHat")


@pytest.mark.parametrize("value, expected", [
    ("587", 587), (465, 465), ("4.0", 4), (4.7, 4), ("x", 0), (None, 0), (True, 1)])
def test_jinja_int(value, expected):
    assert role_declarations.jinja_int(value) == expected


def forced(**given):
    variables = role_variables("tls_forced", given)
    return role_declarations.profile_declaration("tls_forced", python_side("tls_forced", variables,
                                                                           dict(HOST, **variables)), DISTRIBUTION)


def test_a_managed_mta_sts_resolver_is_declared_with_the_web_pki():
    found = forced(mta_sts=True, mta_sts_cache_grace="30")
    assert found["mta_sts_resolver"] == {"port": 8461, "cache_grace": 30, "kill_switch": False}
    # RFC 8461 section 4.2: the MX certificate must chain to a trusted CA; Postfix trusts none by default.
    assert found["parameters"]["smtp_tls_CAfile"] == DISTRIBUTION["system_ca_file"]
    assert "smtp_tls_CAfile" in forced(mta_sts=True, mta_sts_ca_file="/etc/ssl/lab.pem")["parameters"]
    assert forced(mta_sts=True, mta_sts_ca_file="/etc/ssl/lab.pem")["parameters"]["smtp_tls_CAfile"] == "/etc/ssl/lab.pem"
    # Its socketmap is the module's to place (after every static table); the pre-flight's check is its too.
    assert found["policy_table"]["extra_maps"] == [] and "mta_sts_socketmap" not in found["preflight"]
    without = forced()
    # Released: the socketmap of a resolver this role managed before leaves the maps (plan's state absent).
    assert without["mta_sts_resolver"] == {"state": "absent"} and "smtp_tls_CAfile" not in without["parameters"]


def test_the_kill_switch_takes_a_socketmap_of_ones_own_out():
    wired = forced(mta_sts_socketmap="inet:127.0.0.1:9000:postfix")
    assert wired["policy_table"]["extra_maps"] == ["socketmap:inet:127.0.0.1:9000:postfix"]
    assert wired["preflight"]["mta_sts_socketmap"] == "inet:127.0.0.1:9000:postfix"
    killed = forced(mta_sts_socketmap="inet:127.0.0.1:9000:postfix", mta_sts_kill_switch=True)
    assert killed["policy_table"]["extra_maps"] == []
    assert killed["policy_table"]["absent_maps"] == ["socketmap:inet:127.0.0.1:9000:postfix"]
    assert "mta_sts_socketmap" not in killed["preflight"]  # a server taken out need not answer
    assert forced(mta_sts=True, mta_sts_kill_switch=True)["mta_sts_resolver"]["kill_switch"] is True


def test_a_managed_resolver_and_a_socketmap_of_ones_own_are_refused_together():
    # Both wired, Postfix would ask two policy servers, and the kill switch would have two things to pull.
    with pytest.raises(ValueError, match="tls_forced_mta_sts and tls_forced_mta_sts_socketmap are both set"):
        forced(mta_sts=True, mta_sts_socketmap="inet:127.0.0.1:9000:postfix")


def test_a_tlsrpt_collector_socket_turns_postfixs_reports_on():
    found = forced(tlsrpt_socket="run/tlsrpt/tlsrpt.sock")["parameters"]
    assert found["smtp_tlsrpt_enable"] == "yes" and found["smtp_tlsrpt_socket_name"] == "run/tlsrpt/tlsrpt.sock"
    assert "smtp_tlsrpt_enable" not in forced()["parameters"]  # empty: both left as they are
