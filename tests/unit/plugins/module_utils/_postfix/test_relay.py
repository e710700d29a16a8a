"""The relay plan: what a relay declaration means for main.cf, master.cf and the tables (pure)."""

from __future__ import annotations

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.errors import InputError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.relay import (
    RELAY_PARAMETERS,
    WRAPPER_SERVICE,
    credentials,
    needs_sasl_client,
    nexthop,
    plan_relay,
    previous_hops,
)


def spec(**overrides):
    base = dict(state="present", host="smtp.example.net", port=587, mx_lookup=False, wrappermode=None,
                level="secure", allow_password_without_tls=False, ca_file="/etc/ssl/certs/ca-certificates.crt",
                username="me", password="pw", password_table="/etc/postfix/sasl_passwd",
                sender_table="/etc/postfix/sender_relay", transport_table="/etc/postfix/relay_transport",
                destinations=[], table_type="hash", mechanisms=[],
                sasl_security_options=["noplaintext", "noanonymous"], sasl_tls_security_options=["noanonymous"],
                sender_relays=[])
    base.update(overrides)
    return base


def test_a_relay_with_credentials():
    plan = plan_relay(spec(), {}, [])
    assert plan.parameters == {
        "relayhost": "[smtp.example.net]:587",
        "smtp_tls_CAfile": "/etc/ssl/certs/ca-certificates.crt",
        "smtp_sasl_auth_enable": "yes",
        "smtp_sasl_password_maps": "hash:/etc/postfix/sasl_passwd",
        "smtp_sasl_security_options": "noplaintext, noanonymous",
        "smtp_sasl_tls_security_options": "noanonymous",
    }
    assert plan.passwords == {"[smtp.example.net]:587": "me:pw"}
    assert plan.policies == [{"destination": "[smtp.example.net]:587", "level": "secure", "attributes": {},
                              "include_subdomains": False}]
    assert plan.probe == {
        "[smtp.example.net]:587": {"wrappermode": False, "ca_file": "/etc/ssl/certs/ca-certificates.crt"}}
    assert plan.packages == ["libsasl2-modules"] and plan.warnings == []
    assert set(plan.absent_parameters) == {"smtp_sasl_mechanism_filter", "sender_dependent_relayhost_maps",
                                           "smtp_sender_dependent_authentication"}
    assert [service["state"] for service in plan.services] == ["absent"]


def test_port_465_is_smtps_on_its_own_transport():
    plan = plan_relay(spec(port=465), {}, [])
    assert plan.parameters["default_transport"] == WRAPPER_SERVICE
    assert plan.services[0]["state"] == "present"
    assert plan.services[0]["options"] == {"smtp_tls_wrappermode": "yes", "smtp_tls_security_level": "encrypt"}
    assert plan.probe["[smtp.example.net]:465"]["wrappermode"] is True
    # Explicitly off on 465, explicitly on elsewhere.
    assert "default_transport" not in plan_relay(spec(port=465, wrappermode=False), {}, []).parameters
    assert plan_relay(spec(port=2465, wrappermode=True), {}, []).parameters["default_transport"] == WRAPPER_SERVICE


def test_leaving_smtps_removes_the_transport_only_where_main_cf_uses_it():
    plan = plan_relay(spec(), {"default_transport": WRAPPER_SERVICE}, [])
    assert "default_transport" in plan.absent_parameters
    plan = plan_relay(spec(), {"default_transport": "smtp"}, [])
    assert "default_transport" not in plan.absent_parameters


def test_sender_relays_and_their_credentials():
    plan = plan_relay(spec(sender_relays=[
        dict(sender="@Example.ORG", host="relay.example.org", port=587, mx_lookup=False, username="o", password="p"),
        dict(sender="bob@example.com", host="2001:db8::25", port=25, mx_lookup=False, username=None, password=None),
    ]), {}, [])
    assert plan.sender_relays == {"@example.org": "[relay.example.org]:587", "bob@example.com": "[ipv6:2001:db8::25]:25"}
    assert plan.passwords == {"@example.org": "o:p", "[smtp.example.net]:587": "me:pw"}
    assert plan.parameters["sender_dependent_relayhost_maps"] == "hash:/etc/postfix/sender_relay"
    assert plan.parameters["smtp_sender_dependent_authentication"] == "yes"
    assert [policy["destination"] for policy in plan.policies] == [
        "[smtp.example.net]:587", "[relay.example.org]:587", "[ipv6:2001:db8::25]:25"]


def test_a_relay_without_credentials_sets_no_sasl():
    plan = plan_relay(spec(username=None, password=None), {}, [])
    assert plan.passwords == {} and plan.packages == []
    assert "smtp_sasl_auth_enable" in plan.absent_parameters and "relayhost" in plan.parameters
    assert not needs_sasl_client(spec(username=None, password=None))
    assert needs_sasl_client(spec(username=None, password=None, sender_relays=[dict(password="x")]))
    assert not needs_sasl_client(spec(state="absent"))


def test_a_moved_relay_leaves_its_old_entries_behind_for_removal():
    plan = plan_relay(spec(), {"relayhost": "[old.example.net]:587"}, ["[a.relay.example]:25"])
    assert plan.absent_policies == ["[old.example.net]:587", "[a.relay.example]:25"]
    plan = plan_relay(spec(), {"relayhost": "[smtp.example.net]:587"}, [])
    assert plan.absent_policies == []


def test_removal():
    current = {"relayhost": "[smtp.example.net]:465", "smtp_sasl_auth_enable": "yes", "default_transport":
               WRAPPER_SERVICE, "smtp_sasl_mechanism_filter": "", "myhostname": "mx.example"}
    plan = plan_relay(spec(state="absent"), current, ["[a.relay.example]:25"])
    assert not plan.present and plan.parameters == {} and plan.passwords == {}
    assert sorted(plan.absent_parameters) == ["default_transport", "relayhost", "smtp_sasl_auth_enable"]
    assert plan.absent_policies == ["[smtp.example.net]:465", "[a.relay.example]:25"]
    assert [service["state"] for service in plan.services] == ["absent"]


def test_previous_hops_skip_what_is_not_one_next_hop():
    assert previous_hops({"relayhost": "[a.example]:25, [b.example]"}, ["[c.example]:587"]) == ["[c.example]:587"]
    assert previous_hops({"relayhost": ""}, ["", "[c.example]:587", "[c.example]:587"]) == ["[c.example]:587"]


@pytest.mark.parametrize("overrides, option, words", [
    (dict(level="may"), "relay.level", "clear text"),
    (dict(level="none"), "relay.level", "clear text"),
    (dict(port=465, level="may", allow_password_without_tls=True), "relay.level", "SMTPS"),
    (dict(host=None), "relay.host", "required"),
    (dict(host="[smtp.example.net]"), "relay.host", "the port is its own option"),
    (dict(host="bad host"), "relay.host", "not a next-hop destination"),
    (dict(port=70000), "relay.port", "not a TCP port"),
    (dict(host="2001:db8::1", mx_lookup=True), "relay.mx_lookup", "no MX records"),
    (dict(password=None), "relay.password", "together"),
    (dict(username=""), "relay.username", "together"),
    (dict(username="a:b"), "relay.username", "':'"),
    (dict(password="x\ny"), "relay.password", "control character"),
    (dict(password="x\ty"), "relay.password", "control character"),
    (dict(password="x\x00y"), "relay.password", "control character"),
    (dict(password=" x"), "relay.password", "space"),
    (dict(mechanisms=["plain,login"]), "relay.mechanisms", "not a SASL mechanism"),
    (dict(sasl_security_options=["noplain"]), "relay.sasl_security_options", "not a SASL security option"),
    (dict(sender_relays=[dict(sender="a b@c", host="h", port=25, mx_lookup=False, username=None,
                              password=None)]), "relay.sender_relays[0].sender", "not a sender"),
    (dict(sender_relays=[dict(sender="@c", host="h", port=25, mx_lookup=False, username=None, password=None)] * 2),
     "relay.sender_relays[1].sender", "given twice"),
])
def test_refusals_name_the_option(overrides, option, words):
    with pytest.raises(InputError) as raised:
        plan_relay(spec(**overrides), {}, [])
    assert str(raised.value).startswith(option + ":") and words in str(raised.value)


def test_weak_levels_are_warned_about_never_silently_accepted():
    assert "does not authenticate" in plan_relay(spec(level="encrypt"), {}, []).warnings[0]
    plan = plan_relay(spec(level="may", allow_password_without_tls=True), {}, [])
    assert "clear text" in plan.warnings[0] and "smtp_tls_CAfile" not in plan.parameters
    # Without a password nothing crosses the wire that TLS must protect: no warning.
    assert plan_relay(spec(level="may", username=None, password=None), {}, []).warnings == []


def test_credentials_and_next_hops():
    assert credentials("u@example.org", "p:a ss", "relay.") == "u@example.org:p:a ss"
    assert credentials(None, None, "relay.") is None
    assert nexthop("smtp.example.net", 587, True, "relay.") == "smtp.example.net:587"
    assert nexthop("192.0.2.25", 25, False, "relay.") == "[192.0.2.25]:25"
    assert nexthop("SMTP.Example.NET", 587, False, "relay.") == "[smtp.example.net]:587"


def test_every_parameter_a_relay_sets_is_one_it_removes():
    plan = plan_relay(spec(mechanisms=["PLAIN"], sender_relays=[
        dict(sender="@a.example", host="r.example", port=25, mx_lookup=False, username="u", password="p")]), {}, [])
    assert set(plan.parameters) - {"smtp_tls_CAfile"} == set(RELAY_PARAMETERS)
    assert plan.parameters["smtp_sasl_mechanism_filter"] == "plain"


def test_only_some_destinations_through_the_relay():
    plan = plan_relay(spec(destinations=["Example.COM", ".example.com"]), {"transport_maps": "hash:/etc/postfix/transport"}, [])
    assert plan.transports == {"example.com": "smtp:[smtp.example.net]:587", ".example.com": "smtp:[smtp.example.net]:587"}
    assert "relayhost" not in plan.parameters and "relayhost" in plan.absent_parameters
    assert plan.parameters["transport_maps"] == "hash:/etc/postfix/relay_transport, hash:/etc/postfix/transport"
    assert plan.passwords == {"[smtp.example.net]:587": "me:pw"}
    # SMTPS: the entries name the wrapper transport; default_transport is left alone.
    plan = plan_relay(spec(port=465, destinations=["example.com"]), {}, [])
    assert plan.transports == {"example.com": "relay-smtps:[smtp.example.net]:465"}
    assert "default_transport" not in plan.parameters and plan.services[0]["state"] == "present"
    # Already first: nothing to change; without destinations the table leaves the list.
    current = {"transport_maps": "hash:/etc/postfix/relay_transport, hash:/etc/postfix/transport"}
    assert "transport_maps" not in plan_relay(spec(destinations=["example.com"]), current, []).parameters
    assert plan_relay(spec(), current, []).parameters["transport_maps"] == "hash:/etc/postfix/transport"
    plan = plan_relay(spec(state="absent"), {"transport_maps": "hash:/etc/postfix/relay_transport"},
                      ["[smtp.example.net]:587"])
    assert "transport_maps" in plan.absent_parameters and plan.absent_policies == ["[smtp.example.net]:587"]


@pytest.mark.parametrize("destination", ["[mx.example.com]", "example.com:25", "bad domain"])
def test_destinations_are_mail_domains(destination):
    with pytest.raises(InputError) as raised:
        plan_relay(spec(destinations=[destination]), {}, [])
    assert str(raised.value).startswith("relay.destinations:")
