"""A tls_profile message told in the roles' variables: the map cannot name what does not exist."""

from __future__ import annotations

import os

import pytest
import yaml

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.tls import LEVELS
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.specs import declaration_spec
from ansible_collections.mailtls.postfix.plugins.plugin_utils.role_declarations import OPTION_VARIABLES, in_role_words

ROLES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "roles")


def role_variables(role):
    with open(os.path.join(ROLES, role, "meta", "argument_specs.yml")) as handle:
        return set(yaml.safe_load(handle)["argument_specs"]["main"]["options"])


def option_exists(path):
    spec = declaration_spec(LEVELS)
    for part in path.split("."):
        if part not in spec:
            return False
        spec = spec[part].get("options") or {}
    return True


@pytest.mark.parametrize("role", sorted(OPTION_VARIABLES))
def test_every_mapped_option_and_variable_exists(role):
    known = role_variables(role)
    for path, name in OPTION_VARIABLES[role].items():
        assert option_exists(path), path
        assert "%s_%s" % (role, name) in known, name


def test_options_are_told_as_the_role_variables():
    assert in_role_words("set preflight.mode to warn", ["tls_forced"]) == \
        "set tls_forced_preflight (option preflight.mode) to warn"
    assert in_role_words("declarations[1].certificate.chains: no", ["tls_forced", "tls_receiving"]) == \
        "tls_receiving_chains (option declarations[1].certificate.chains): no"


def test_an_option_two_roles_share_or_a_lookalike_stays_as_it_is():
    # tls_forced and tls_relay both have a pre-flight: which one is meant is not known.
    assert in_role_words("preflight.mode: bad", ["tls_forced", "tls_relay"]) == "preflight.mode: bad"
    # Part of a longer name, a value or a path is not the option.
    for text in ("xpreflight.mode", "preflight.mode_x", "/etc/self_signed", "a.self_signed", "[self_signed]", "self_signed-x",
                 "$self_signed", "self_signed.pem"):
        assert in_role_words(text, ["tls_receiving", "tls_forced"]) == text
    assert in_role_words("anything", []) == "anything"
