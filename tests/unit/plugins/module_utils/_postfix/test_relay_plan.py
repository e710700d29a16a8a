"""The relay plan: what a relay declaration means for main.cf, master.cf and the tables (pure)."""

from __future__ import annotations

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import InputError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.relay import (
    RELAY_SERVICE,
    credentials,
    needs_sasl_client,
    nexthop,
    plan_relay,
    previous_hops,
    transport_next_hop,
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


def options(plan):
    return dict(plan.service["options"])


def test_a_relay_with_credentials_routes_all_mail_through_its_own_transport():
    plan = plan_relay(spec(), {})
    assert plan.parameters == {"relayhost": "[smtp.example.net]:587", "default_transport": RELAY_SERVICE}
    assert plan.absent_parameters == []
    assert plan.passwords == {"[smtp.example.net]:587": "me:pw"}
    assert plan.service["state"] == "present" and plan.service["command"] == "smtp"
    # The level and the SASL client bind relay-tls only, and no policy table can lower the level.
    assert options(plan) == {
        "smtp_tls_security_level": "secure", "smtp_tls_policy_maps": "", "smtp_fallback_relay": "",
        "smtp_tls_CAfile": "/etc/ssl/certs/ca-certificates.crt", "smtp_tls_CApath": "",
        "smtp_tls_trust_anchor_file": "", "tls_append_default_CA": "no", "smtp_tls_secure_cert_match": "nexthop,dot-nexthop",
        "smtp_sasl_auth_enable": "yes", "smtp_sasl_password_maps": "hash:/etc/postfix/sasl_passwd",
        "smtp_sasl_security_options": "noplaintext,noanonymous", "smtp_sasl_tls_security_options": "noanonymous"}
    assert plan.hops == ["[smtp.example.net]:587"]
    assert plan.probe == {"level": "secure", "wrappermode": False, "ca_file": "/etc/ssl/certs/ca-certificates.crt"}
    assert plan.packages == ["libsasl2-modules"] and plan.warnings == []


def test_port_465_is_smtps():
    plan = plan_relay(spec(port=465), {})
    assert options(plan)["smtp_tls_wrappermode"] == "yes" and plan.probe["wrappermode"] is True
    assert "smtp_tls_wrappermode" not in options(plan_relay(spec(port=465, wrappermode=False), {}))
    assert options(plan_relay(spec(port=2465, wrappermode=True), {}))["smtp_tls_wrappermode"] == "yes"


def test_sender_relays_and_their_credentials():
    plan = plan_relay(spec(sender_relays=[
        dict(sender="@Example.ORG", host="relay.example.org", port=587, mx_lookup=False, username="o", password="p"),
        dict(sender="bob@example.com", host="2001:db8::25", port=25, mx_lookup=False, username=None, password=None),
    ]), {})
    assert plan.sender_relays == {"@example.org": "[relay.example.org]:587", "bob@example.com": "[ipv6:2001:db8::25]:25"}
    assert plan.passwords == {"@example.org": "o:p", "[smtp.example.net]:587": "me:pw"}
    assert plan.parameters["sender_dependent_relayhost_maps"] == "hash:/etc/postfix/sender_relay"
    assert options(plan)["smtp_sender_dependent_authentication"] == "yes"
    assert plan.hops == ["[smtp.example.net]:587", "[relay.example.org]:587", "[ipv6:2001:db8::25]:25"]


def test_a_relay_without_credentials_has_no_sasl_client():
    plan = plan_relay(spec(username=None, password=None), {})
    assert plan.passwords == {} and plan.packages == []
    assert not [name for name in options(plan) if name.startswith("smtp_sasl")]
    assert not needs_sasl_client(spec(username=None, password=None))
    assert needs_sasl_client(spec(username=None, password=None, sender_relays=[dict(password="x")]))
    assert not needs_sasl_client(spec(state="absent"))


def test_the_mechanism_filter_only_with_credentials():
    assert options(plan_relay(spec(mechanisms=["PLAIN", "login"]), {}))["smtp_sasl_mechanism_filter"] == "plain,login"
    assert "smtp_sasl_mechanism_filter" not in options(plan_relay(spec(mechanisms=["PLAIN"], username=None,
                                                                       password=None), {}))


def test_removal_leaves_what_is_not_the_relays():
    current = {"relayhost": "[smtp.example.net]:465", "default_transport": RELAY_SERVICE, "myhostname": "mx",
               "transport_maps": "hash:/etc/postfix/relay_transport, hash:/etc/postfix/transport"}
    plan = plan_relay(spec(state="absent"), current, owned={"relayhost": "[smtp.example.net]:465"})
    assert plan.parameters == {"transport_maps": "hash:/etc/postfix/transport"}
    assert sorted(plan.absent_parameters) == ["default_transport", "relayhost"]
    # A relayhost the relay did not set (none recorded, or another value) stays.
    for owned in (None, {"relayhost": "[other.example.net]:587"}):
        plan = plan_relay(spec(state="absent"), current, owned=owned)
        assert plan.absent_parameters == ["default_transport"]
    assert plan.service["state"] == "absent" and plan.passwords == {} and plan.hops == []
    plan = plan_relay(spec(state="absent"), {"relayhost": "", "default_transport": "smtp"})
    assert plan.parameters == {} and plan.absent_parameters == []


def test_only_some_destinations_through_the_relay():
    plan = plan_relay(spec(destinations=["Example.COM", ".example.com"]),
                      {"transport_maps": "hash:/etc/postfix/transport", "relayhost": "[old.example]:25"})
    assert plan.transports == {"example.com": "relay-tls:[smtp.example.net]:587",
                               ".example.com": "relay-tls:[smtp.example.net]:587"}
    assert plan.parameters == {"transport_maps": "hash:/etc/postfix/relay_transport, hash:/etc/postfix/transport"}
    assert plan.absent_parameters == [], "the host's own relayhost and default_transport stay"
    ours = plan_relay(spec(destinations=["example.com"]), {"relayhost": "[smtp.example.net]:587",
                                                           "default_transport": RELAY_SERVICE},
                      owned={"relayhost": "[smtp.example.net]:587"})  # the relay's record says it set it
    assert sorted(ours.absent_parameters) == ["default_transport", "relayhost"], "the relay's own go"
    current = {"transport_maps": "hash:/etc/postfix/relay_transport, hash:/etc/postfix/transport"}
    assert plan_relay(spec(destinations=["example.com"]), current).parameters == {}
    assert plan_relay(spec(), current).parameters["transport_maps"] == "hash:/etc/postfix/transport"
    plan = plan_relay(spec(state="absent"), {"transport_maps": "hash:/etc/postfix/relay_transport"})
    assert plan.absent_parameters == ["transport_maps"]


def test_previous_hops_skip_what_is_not_one_next_hop():
    assert previous_hops({"relayhost": "[a.example]:25, [b.example]"}, ["[c.example]:587"]) == ["[c.example]:587"]
    assert previous_hops({"relayhost": ""}, ["", "[c.example]:587", "[c.example]:587"]) == ["[c.example]:587"]
    assert transport_next_hop("relay-tls:[c.example]:587") == "[c.example]:587" and transport_next_hop("x") == ""


@pytest.mark.parametrize("overrides, option, words", [
    (dict(level="may"), "relay.level", "clear text"),
    (dict(level="none"), "relay.level", "clear text"),
    (dict(port=465, level="may", allow_password_without_tls=True), "relay.level", "SMTPS"),
    (dict(host=None), "relay.host", "required"),
    (dict(host="[smtp.example.net]"), "relay.host", "the port is its own option"),
    (dict(host="bad host"), "relay.host", "not a next-hop destination"),
    (dict(host="smtp\udcff.example"), "relay.host", "not UTF-8"),
    (dict(port=70000), "relay.port", "not a TCP port"),
    (dict(host="2001:db8::1", mx_lookup=True), "relay.mx_lookup", "no MX records"),
    (dict(password=None), "relay.password", "together"),
    (dict(username=""), "relay.username", "together"),
    (dict(username="a:b"), "relay.username", "':'"),
    (dict(username="a\ud800"), "relay.username", "not UTF-8"),
    (dict(password="x\ny"), "relay.password", "control character"),
    (dict(password="x\ty"), "relay.password", "control character"),
    (dict(password="x\x00y"), "relay.password", "control character"),
    (dict(password="x\udcffy"), "relay.password", "not UTF-8"),
    (dict(password=" x"), "relay.password", "space"),
    (dict(mechanisms=["plain,login"]), "relay.mechanisms", "not a SASL mechanism"),
    (dict(sasl_security_options=["noplain"]), "relay.sasl_security_options", "not a SASL security option"),
    (dict(password_table="sasl_passwd"), "relay.password_table", "not an absolute path"),
    (dict(password_table="/etc/postfix/pass words"), "relay.password_table", "more than one word"),
    (dict(transport_table="/etc/postfix/a,b"), "relay.transport_table", "more than one word"),
    (dict(ca_file="/etc/ssl/{x}"), "relay.ca_file", "more than one word"),
    (dict(destinations=["[mx.example.com]"]), "relay.destinations", "mail domains"),
    (dict(destinations=["example.com:25"]), "relay.destinations", "mail domains"),
    (dict(destinations=["example.com"], sender_relays=[dict(sender="@a.example", host="r", port=25, mx_lookup=False,
                                                            username=None, password=None)]),
     "relay.sender_relays", "cannot be combined with destinations"),
    (dict(sender_relays=[dict(sender="a b@c", host="h", port=25, mx_lookup=False, username=None,
                              password=None)]), "relay.sender_relays[0].sender", "not a sender"),
    (dict(sender_relays=[dict(sender="#a@c", host="h", port=25, mx_lookup=False, username=None,
                              password=None)]), "relay.sender_relays[0].sender", "not a sender"),
    (dict(sender_relays=[dict(sender="@c", host="h", port=25, mx_lookup=False, username=None, password=None)] * 2),
     "relay.sender_relays[1].sender", "given twice"),
])
def test_refusals_name_the_option(overrides, option, words):
    with pytest.raises(InputError) as raised:
        plan_relay(spec(**overrides), {})
    assert str(raised.value).startswith(option + ":") and words in str(raised.value)
    for secret in ("x\ny", "x\ty", "x\udcffy", " x", "pw"):
        assert secret not in str(raised.value).split(":", 1)[1]


def test_weak_levels_are_warned_about_never_silently_accepted():
    assert "does not authenticate" in plan_relay(spec(level="encrypt"), {}).warnings[0]
    plan = plan_relay(spec(level="may", allow_password_without_tls=True), {})
    assert "clear text" in plan.warnings[0] and "smtp_tls_CAfile" not in options(plan)
    assert options(plan)["smtp_tls_security_level"] == "may"
    # Without a password nothing crosses the wire that TLS must protect: no warning.
    assert plan_relay(spec(level="may", username=None, password=None), {}).warnings == []


def test_credentials_and_next_hops():
    assert credentials("u@example.org", "p:a ss\u00a0#", "relay.") == "u@example.org:p:a ss\u00a0#"
    assert credentials(None, None, "relay.") is None
    assert nexthop("smtp.example.net", 587, True, "relay.") == "smtp.example.net:587"
    assert nexthop("192.0.2.25", 25, False, "relay.") == "[192.0.2.25]:25"
    assert nexthop("SMTP.Example.NET", 587, False, "relay.") == "[smtp.example.net]:587"


# --- issue 18: credentials per next hop, promises on the merged plan, what the relay owns ----------

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import ConfigError  # noqa: E402
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.relay import (  # noqa: E402
    check_planned_state, names_table, ownership_before_the_record, parse_record, record_text, sender_lookup_keys,
    table_paths, table_source)


def sender_relay(sender, host, secret=None):
    item = dict(sender=sender, host=host, port=587, mx_lookup=False, username=None, password=None)
    if secret:
        item.update(username="u", password=secret)
    return item


def test_a_sender_is_looked_up_as_postfix_does():
    assert sender_lookup_keys("director@example.org") == ["director@example.org", "@example.org"]
    assert sender_lookup_keys("@example.org") == ["@example.org"]


@pytest.mark.parametrize("relays, refused", [
    ([sender_relay("@example.org", "r2", "p2"), sender_relay("director@example.org", "r1")], True),
    ([sender_relay("director@example.org", "r1"), sender_relay("@example.org", "r2", "p2")], True),
    ([sender_relay("@example.org", "r2", "p2"), sender_relay("director@example.org", "r2")], False),
    ([sender_relay("@example.org", "r2", "p2"), sender_relay("director@example.org", "r1", "p1")], False),
    ([sender_relay("@example.org", "r2"), sender_relay("director@example.org", "r1", "p1")], False),
    ([sender_relay("@example.org", "r2", "p2"), sender_relay("director@other.example", "r1")], False),
])
def test_no_sender_is_offered_credentials_meant_for_another_relay(relays, refused):
    if refused:
        with pytest.raises(InputError, match=r"^relay\.sender_relays\[\d\]\.username: director@example\.org"):
            plan_relay(spec(sender_relays=relays), {})
    else:
        plan_relay(spec(sender_relays=relays), {})


def test_the_merged_plan_keeps_the_relays_promises():
    plan = plan_relay(spec(), {})
    planned = dict(plan.parameters)
    check_planned_state(plan, spec(), planned, lambda name: None)
    for name, value in (("smtp_tls_per_site", "hash:/x"), ("sender_dependent_default_transport_maps", "hash:/x"),
                        ("default_transport", "smtp"), ("relayhost", "[other]:25"),
                        ("smtp_sasl_password_maps", "hash:/etc/postfix/sasl_passwd")):
        with pytest.raises(InputError, match="^parameters: %s" % name):
            check_planned_state(plan, spec(), dict(planned, **{name: value}), lambda name: "parameters")
    with pytest.raises(InputError, match=r"^declarations\[1\]\.master_services\[0\]: "):
        check_planned_state(plan, spec(), planned, lambda name: "declarations[1].master_services[0]"
                            if name.startswith("master.cf:") else None)


def test_the_record_round_trips_and_refuses_what_is_not_its_own():
    text = record_text({"relayhost": "[r]:587", "default_transport": "relay-tls"}, ["/etc/postfix/sasl_passwd"])
    assert parse_record(text, "/r") == ({"relayhost": "[r]:587"}, ["/etc/postfix/sasl_passwd"])
    for bad in ("", "[]", '{"parameters": {}, "files": ["/etc/postfix/master.cf"]}', '{"files": []}'):
        with pytest.raises(ConfigError):
            parse_record(bad, "/r")


def test_before_the_record_only_what_relay_tls_proves_is_the_relays():
    current = {"relayhost": "[r]:587", "default_transport": "relay-tls",
               "sender_dependent_relayhost_maps": "hash:/etc/postfix/admin_senders"}
    assert ownership_before_the_record(spec(), current, None) == ({}, [])
    parameters, files = ownership_before_the_record(
        spec(), current, {"smtp_sasl_password_maps": "hash:/etc/postfix/sasl_passwd"})
    assert parameters == {"relayhost": "[r]:587"}
    assert files == ["/etc/postfix/sasl_passwd", "/etc/postfix/sasl_passwd.db"]


def test_a_file_belongs_to_its_source():
    assert table_source("/t.db") == table_source("/t.lmdb") == table_source("/t") == "/t"


@pytest.mark.parametrize("value", [
    "hash:/etc/postfix/sasl_passwd", "proxy:hash:/etc/postfix/sasl_passwd", "texthash:/etc/postfix/sasl_passwd",
    "hash:${config_directory}/sasl_passwd", "lmdb:$config_directory/sasl_passwd",
    "hash:$(config_directory)/sasl_passwd", "hash:/etc/postfix//sasl_passwd", "hash:/x, hash:/etc/postfix/./sasl_passwd"])
def test_a_table_is_named_in_every_spelling_postfix_reads(value):
    assert names_table(value, "/etc/postfix/sasl_passwd", "/etc/postfix")
    assert not names_table(value.replace("sasl_passwd", "other"), "/etc/postfix/sasl_passwd", "/etc/postfix")
    assert table_paths("inline:{a=b}, socketmap:inet:127.0.0.1:8461:postfix", "/etc/postfix") == []


def test_an_address_extension_is_looked_up_without_it():
    assert sender_lookup_keys("director+news@example.org", "+") == [
        "director+news@example.org", "director@example.org", "@example.org"]
    assert sender_lookup_keys("director+news@example.org", "") == ["director+news@example.org", "@example.org"]
    relays = [sender_relay("director@example.org", "r2", "p2"), sender_relay("director+news@example.org", "r1")]
    with pytest.raises(InputError, match=r"^relay\.sender_relays\[1\]\.username: director\+news@example\.org"):
        plan_relay(spec(sender_relays=relays), {"recipient_delimiter": "+"})
    plan_relay(spec(sender_relays=relays), {})  # no delimiter: Postfix looks up no director@


@pytest.mark.parametrize("name", ["relay_transport", "virtual_transport", "local_transport", "fallback_transport"])
def test_no_other_class_of_mail_reaches_relay_tls_with_sender_credentials(name):
    plan = plan_relay(spec(sender_relays=[sender_relay("@example.org", "r2", "p2")]), {})
    planned = dict(plan.parameters, **{name: "relay-tls:[evil.example]:25"})
    with pytest.raises(InputError, match="^parameters: %s routes mail through relay-tls" % name):
        check_planned_state(plan, spec(), planned, lambda _name: "parameters")
    check_planned_state(plan_relay(spec(), {}), spec(), dict(plan_relay(spec(), {}).parameters, **{name: "relay-tls"}),
                        lambda _name: None)  # without sender credentials no password is looked up by sender
