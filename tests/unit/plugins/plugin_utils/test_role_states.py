"""The roles' state variables mapped (issue 23): each profile declaration named, server absent sets nothing."""

from __future__ import annotations

from pathlib import Path

import yaml

from ansible_collections.mailtls.postfix.plugins.plugin_utils import role_declarations

ROLES = Path(__file__).resolve().parents[4] / "roles"
DISTRIBUTION = {"map_type_packages": {}, "sasl_client_package": "libsasl2-modules", "system_ca_file": "/ca.pem"}


def variables(role, **changed):
    found = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text())
    found = dict((name[len(role) + 1:], value) for name, value in found.items())
    found.update(changed)
    return found


def test_each_profile_declaration_is_named_with_its_state():
    for role in ("tls_forced", "tls_opportunistic", "tls_receiving"):
        for state in ("present", "absent"):
            declaration = role_declarations.owned_declaration(role, variables(role, state=state), DISTRIBUTION)
            assert (declaration["name"], declaration["state"]) == (role, state)


def test_the_relay_keeps_its_own_record_and_state():
    declaration = role_declarations.owned_declaration("tls_relay", variables("tls_relay"), DISTRIBUTION)
    assert "name" not in declaration and declaration["relay"]["state"] == "present"


def test_server_absent_sets_nothing_new():
    declarations = [{"name": "tls_forced", "state": "absent"}]
    present = role_declarations.server_arguments(variables("server"), declarations, DISTRIBUTION)
    assert (present["name"], present["state"]) == ("server", "present") and present["hardening"] == "intermediate"
    absent = role_declarations.server_arguments(variables("server", config_state="absent"), declarations,
                                                DISTRIBUTION)
    assert (absent["state"], absent["parameters"], absent["migrate_obsolete"]) == ("absent", {}, False)
    assert "hardening" not in absent and absent["declarations"] == declarations


def test_every_state_variable_is_in_the_main_entry_point():
    for role, name in (("tls_forced", "tls_forced_state"), ("tls_opportunistic", "tls_opportunistic_state"),
                       ("tls_receiving", "tls_receiving_state"), ("server", "server_config_state")):
        spec = yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())
        option = spec["argument_specs"]["main"]["options"][name]
        assert option["choices"] == ["present", "absent"] and option["default"] == "present"
