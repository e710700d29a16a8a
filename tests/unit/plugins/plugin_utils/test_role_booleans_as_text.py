"""A hostile review of the roles' boolean variables given as text, as ``-e tls_forced_mta_sts=false`` or an
INI inventory gives them. The action mailtls.postfix.declare checks the variables against the role's
argument spec (which takes "false" as a bool) but passes them on as templated, unconverted
(plugins/action/declare.py: ``variables`` from ``templated``); every decision role_declarations makes
on a boolean reads it as Ansible's bool filter would. Measured on a Debian 12 container before the fix:
``-e tls_forced_mta_sts=false`` asked the resolver to answer and was refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.mailtls.postfix.plugins.plugin_utils import role_declarations

ROLES = Path(__file__).resolve().parents[4] / "roles"
CA_FILE = "/etc/ssl/certs/ca-certificates.crt"
OWN = "inet:127.0.0.1:9000:postfix"


def forced_as_the_action_passes_them(**given):
    """The declaration the action makes of the role's defaults changed by ``given`` (names without prefix)."""
    variables = yaml.safe_load((ROLES / "tls_forced" / "defaults" / "main.yml").read_text())
    variables.update(("tls_forced_" + name, value) for name, value in given.items())
    spec = yaml.safe_load((ROLES / "tls_forced" / "meta" / "argument_specs.yml").read_text())
    checked = ArgumentSpecValidator(spec["argument_specs"]["main"]["options"]).validate(dict(variables))
    assert not checked.error_messages  # the action lets them through, as given
    return role_declarations.tls_forced(dict((name[len("tls_forced_"):], value) for name, value in variables.items()),
                                        CA_FILE)


@pytest.mark.parametrize("text", ["false", "no", "False", "0"])
def test_mta_sts_false_as_text_manages_no_resolver(text):
    found = forced_as_the_action_passes_them(mta_sts=text)
    assert found["mta_sts_resolver"] == {"state": "absent"} and "smtp_tls_CAfile" not in found["parameters"]


def test_kill_switch_false_as_text_keeps_ones_own_socketmap():
    found = forced_as_the_action_passes_them(mta_sts_socketmap=OWN, mta_sts_kill_switch="false")
    assert found["policy_table"]["extra_maps"] == ["socketmap:" + OWN]
    assert not found["policy_table"].get("absent_maps")


def test_kill_switch_true_as_text_engages_it():
    # held: the text "true" is taken as true (by luck of truthiness)
    found = forced_as_the_action_passes_them(mta_sts_socketmap=OWN, mta_sts_kill_switch="true")
    assert found["policy_table"]["absent_maps"] == ["socketmap:" + OWN]


def test_a_port_as_text_is_the_number():
    # held: jinja_int maps "8470" to 8470 (and the module refuses 0, a text that is no number)
    assert forced_as_the_action_passes_them(mta_sts=True, mta_sts_port="8470")["mta_sts_resolver"]["port"] == 8470


def test_the_guide_tells_of_the_managed_resolver():
    guide = (ROLES.parent / "docs" / "dane-mta-sts.md").read_text()
    assert "does not install the MTA-STS policy server" not in guide
    assert "not with a real policy\nserver" not in guide
    assert "tls_forced_mta_sts_kill_switch" in guide.split("## The lab")[0]


def declaration_as_the_action_passes_it(role, **given):
    variables = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text())
    variables.update((role + "_" + name, value) for name, value in given.items())
    prefix = role + "_"
    return dict((name[len(prefix):], value) for name, value in variables.items() if name.startswith(prefix))


@pytest.mark.parametrize("text", ["false", "no", "0"])
def test_other_booleans_as_text_are_false(text):
    opportunistic = role_declarations.tls_opportunistic(declaration_as_the_action_passes_it(
        "tls_opportunistic", all_mail=text))
    assert "smtp_tls_security_level" not in opportunistic["parameters"]
    receiving = declaration_as_the_action_passes_it("tls_receiving", tlsa=text, submission=text, submissions=text)
    found = role_declarations.tls_receiving(receiving)
    assert "dane" not in found["receiving"] and found["master_services"] == []
