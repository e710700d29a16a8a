"""The TLS migration plan: obsolete switches out, every level Postfix applies kept."""

from __future__ import annotations

import itertools

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import ConfigError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.parameters import (
    ROLES,
    Service,
    evaluate,
    plan_tls_migration,
    role_level,
)

# postconf -d of Postfix 3.7.11 for the parameters the migration reads.
DEFAULTS = {
    "lmtp_enforce_tls": "no", "lmtp_tls_enforce_peername": "yes", "lmtp_tls_security_level": "",
    "lmtp_use_tls": "no", "postscreen_enforce_tls": "$smtpd_enforce_tls",
    "postscreen_tls_security_level": "$smtpd_tls_security_level", "postscreen_use_tls": "$smtpd_use_tls",
    "smtp_enforce_tls": "no", "smtp_tls_enforce_peername": "yes", "smtp_tls_security_level": "",
    "smtp_use_tls": "no", "smtpd_enforce_tls": "no", "smtpd_tls_security_level": "",
    "smtpd_tls_wrappermode": "no", "smtpd_use_tls": "no", "tlsproxy_client_enforce_tls": "$smtp_enforce_tls",
    "tlsproxy_client_level": "",
    "tlsproxy_client_security_level": "${tlsproxy_client_level:$smtp_tls_security_level}",
    "tlsproxy_client_use_tls": "$smtp_use_tls", "tlsproxy_enforce_tls": "$smtpd_enforce_tls",
    "tlsproxy_tls_security_level": "$smtpd_tls_security_level", "tlsproxy_use_tls": "$smtpd_use_tls",
}
DEBIAN_SERVICES = [
    Service("smtp/inet", "smtpd", {}),
    Service("tlsmgr/unix", "tlsmgr", {}),
    Service("smtp/unix", "smtp", {}),
    Service("relay/unix", "smtp", {"syslog_name": "postfix/relay"}, {"syslog_name": "postfix/$service_name"}),
    Service("lmtp/unix", "lmtp", {}),
]


def plan(main, services=(), raw=None):
    return plan_tls_migration(dict(main) if raw is None else raw, main, list(services), DEFAULTS)


@pytest.mark.parametrize("prefix, values, level", [
    ("smtpd", {}, "none"),
    ("smtpd", {"smtpd_use_tls": "yes"}, "may"),
    ("smtpd", {"smtpd_use_tls": "YES"}, "may"),
    ("smtpd", {"smtpd_enforce_tls": "yes"}, "encrypt"),
    ("smtpd", {"smtpd_enforce_tls": "yes", "smtpd_use_tls": "no"}, "encrypt"),
    ("smtpd", {"smtpd_enforce_tls": "yes", "smtpd_tls_security_level": "may"}, "may"),
    ("smtpd", {"smtpd_tls_security_level": "verify"}, "encrypt"),
    ("smtpd", {"smtpd_tls_security_level": "none", "smtpd_use_tls": "yes"}, "none"),
    ("smtpd", {"smtpd_tls_wrappermode": "yes"}, "wrappermode"),
    ("smtp", {"smtp_enforce_tls": "yes"}, "verify"),
    ("smtp", {"smtp_enforce_tls": "yes", "smtp_tls_enforce_peername": "no"}, "encrypt"),
    ("smtp", {"smtp_use_tls": "yes", "smtp_tls_enforce_peername": "no"}, "may"),
    ("smtp", {"smtp_tls_security_level": "dane", "smtp_use_tls": "no"}, "dane"),
    ("lmtp", {"smtp_use_tls": "yes"}, "none"),
    ("tlsproxy", {"smtpd_use_tls": "yes"}, "may"),
    ("tlsproxy", {"smtpd_use_tls": "yes", "tlsproxy_use_tls": "no"}, "none"),
    ("postscreen", {"smtpd_tls_security_level": "encrypt"}, "encrypt"),
    ("tlsproxy_client", {"smtp_enforce_tls": "yes"}, "may"),
    ("tlsproxy_client", {"smtp_tls_security_level": "verify"}, "may"),
    ("tlsproxy_client", {"tlsproxy_client_level": "x", "smtp_tls_security_level": "verify"}, "none"),
])
def test_role_level_follows_postconf_5(prefix, values, level):
    assert role_level(ROLES[prefix], [values], DEFAULTS) == level


def test_overrides_come_first_and_defaults_see_them():
    assert evaluate("tlsproxy_use_tls", [{"smtpd_use_tls": "yes"}, {"smtpd_use_tls": "no"}], DEFAULTS) == "yes"
    assert evaluate("nonexistent", [{}], DEFAULTS) == ""
    assert evaluate("tlsproxy_client_security_level", [{"smtp_tls_security_level": "may"}], DEFAULTS) == "may"


def test_bad_switch_is_a_config_error():
    with pytest.raises(ConfigError, match="smtpd_use_tls = 'maybe' is neither yes nor no"):
        plan({"smtpd_use_tls": "maybe"})


def test_reference_is_read_expanded():
    # smtpd_use_tls = $enable_tls with enable_tls = yes: receiving TLS must stay on.
    migration = plan({"enable_tls": "yes", "smtpd_use_tls": "yes"},
                     raw={"enable_tls": "yes", "smtpd_use_tls": "$enable_tls"})
    assert migration.main_set == {"smtpd_tls_security_level": "may"}
    assert migration.main_remove == ["smtpd_use_tls"]


def test_enforce_override_in_submission_keeps_encrypt():
    submission = Service("submission/inet", "smtpd",
                         {"smtpd_enforce_tls": "yes", "syslog_name": "postfix/submission"})
    migration = plan({"smtpd_use_tls": "yes"}, DEBIAN_SERVICES + [submission])
    assert migration.main_set == {"smtpd_tls_security_level": "may"}
    assert migration.main_remove == ["smtpd_use_tls"]
    assert migration.services == {"submission/inet": (["smtpd_enforce_tls"], {"smtpd_tls_security_level": "encrypt"})}
    assert migration.notes == ["submission/inet: removed -o smtpd_enforce_tls=yes and added "
                               "-o smtpd_tls_security_level=encrypt; its TLS level stays smtpd encrypt"]


def test_override_made_useless_by_the_global_level_is_just_removed():
    submission = Service("submission/inet", "smtpd", {"smtpd_enforce_tls": "yes"})
    migration = plan({"smtpd_tls_security_level": "may", "smtpd_use_tls": "yes"}, [submission])
    assert migration.main_set == {} and migration.main_remove == ["smtpd_use_tls"]
    assert migration.services == {"submission/inet": (["smtpd_enforce_tls"], {})}
    assert migration.notes == [
        "smtpd_tls_security_level is already set to may, which Postfix uses instead of smtpd_use_tls",
        "submission/inet: removed -o smtpd_enforce_tls=yes; its TLS level stays smtpd may"]


def test_empty_level_override_gets_the_level_it_had():
    service = Service("10025/inet", "smtpd", {"smtpd_tls_security_level": ""})
    migration = plan({"smtpd_use_tls": "yes"}, [service])
    assert migration.services == {"10025/inet": ([], {"smtpd_tls_security_level": "may"})}


def test_tlsproxy_keeps_its_own_switch():
    migration = plan({"smtpd_use_tls": "yes", "tlsproxy_use_tls": "no"})
    assert migration.main_set == {"smtpd_tls_security_level": "may", "tlsproxy_tls_security_level": "none"}
    assert migration.main_remove == ["smtpd_use_tls", "tlsproxy_use_tls"]


def test_client_switches():
    migration = plan({"smtp_use_tls": "yes", "smtp_enforce_tls": "yes", "smtp_tls_enforce_peername": "no",
                      "lmtp_enforce_tls": "yes"})
    assert migration.main_set == {"smtp_tls_security_level": "encrypt", "lmtp_tls_security_level": "verify"}
    assert migration.main_remove == ["lmtp_enforce_tls", "smtp_enforce_tls", "smtp_tls_enforce_peername",
                                     "smtp_use_tls"]


def test_unknown_daemon_is_left_alone_with_a_note():
    service = Service("amavis/unix", "amavisd-wrapper", {"smtp_use_tls": "yes"})
    migration = plan({}, [service])
    assert migration.services == {} and migration.main_set == {} and migration.main_remove == []
    assert migration.notes == ["amavis/unix runs amavisd-wrapper, whose TLS settings this module does not know; "
                               "its -o smtp_use_tls left alone"]


@pytest.mark.parametrize("raw, services, problem", [
    ({"smtpd_use_tls": "yes", "smtpd_tls_auth_only": "$smtpd_use_tls"}, [],
     "main.cf: smtpd_tls_auth_only refers to $smtpd_use_tls"),
    ({"smtpd_use_tls": "yes"}, [Service("s/inet", "smtpd", {"smtpd_tls_auth_only": "yes"},
                                        {"smtpd_tls_auth_only": "${smtpd_use_tls}"})],
     "s/inet: -o smtpd_tls_auth_only refers to $smtpd_use_tls"),
    ({}, [Service("s/inet", "smtpd", {"smtpd_enforce_tls": "yes", "x": "yes"},
                  {"smtpd_enforce_tls": "yes", "x": "${smtpd_enforce_tls?yes}"})],
     "s/inet: -o x refers to $smtpd_enforce_tls"),
])
def test_a_kept_value_referring_to_a_removed_one_is_refused(raw, services, problem):
    main = dict((name, "yes") for name in raw)
    with pytest.raises(ConfigError, match="nothing was changed") as caught:
        plan(main, services, raw=raw)
    assert problem in str(caught.value)


def test_a_reference_to_a_kept_override_is_fine():
    # The service still sets smtp_use_tls itself (its daemon is unknown, so it is kept).
    service = Service("x/unix", "other", {"smtp_use_tls": "yes", "y": "yes"},
                      {"smtp_use_tls": "yes", "y": "$smtp_use_tls"})
    assert plan({"smtp_use_tls": "yes"}, [service]).main_set == {"smtp_tls_security_level": "may"}


def test_nothing_to_do():
    migration = plan({"smtpd_tls_security_level": "may", "smtp_tls_security_level": "may"}, DEBIAN_SERVICES)
    assert (migration.main_set, migration.main_remove, migration.services, migration.notes) == ({}, [], {}, [])


def test_cipherlist_per_site_and_eecdh_notes():
    migration = plan({}, raw={"smtpd_tls_cipherlist": "HIGH", "smtp_tls_per_site": "hash:/x",
                              "smtpd_tls_eecdh_grade": "strong"})
    assert migration.main_remove == ["smtpd_tls_cipherlist"]
    assert [note.split(" ")[0] for note in migration.notes] == [
        "smtp_tls_per_site", "smtpd_tls_cipherlist", "smtpd_tls_eecdh_grade"]


# An oracle written apart from the code under test: postconf(5)'s rules, with the
# 3.7 defaults as plain references.
_REFERS = {"postscreen_use_tls": "smtpd_use_tls", "postscreen_enforce_tls": "smtpd_enforce_tls",
           "postscreen_tls_security_level": "smtpd_tls_security_level", "tlsproxy_use_tls": "smtpd_use_tls",
           "tlsproxy_enforce_tls": "smtpd_enforce_tls", "tlsproxy_tls_security_level": "smtpd_tls_security_level"}


def _value(name, layers):
    for layer in layers:
        if name in layer:
            return layer[name]
    if name in _REFERS:
        return _value(_REFERS[name], layers)
    return "yes" if name.endswith("peername") else "" if name.endswith("level") else "no"


def oracle(prefix, layers):
    if prefix == "smtpd" and _value("smtpd_tls_wrappermode", layers) == "yes":
        return "wrappermode"
    level = _value(prefix + "_tls_security_level", layers)
    if level:
        return {"verify": "encrypt"}.get(level, level) if prefix in ("smtpd", "tlsproxy", "postscreen") else level
    if _value(prefix + "_enforce_tls", layers) == "yes":
        if prefix in ("smtp", "lmtp") and _value(prefix + "_tls_enforce_peername", layers) == "yes":
            return "verify"
        return "encrypt"
    return "may" if _value(prefix + "_use_tls", layers) == "yes" else "none"


def _settings(names_and_choices):
    """Every combination of the given names being absent (None) or set to one of their values."""
    names = list(names_and_choices)
    for values in itertools.product(*(names_and_choices[name] for name in names)):
        yield dict((name, value) for name, value in zip(names, values) if value is not None)


def _apply(main, services, migration):
    after_main = dict((name, value) for name, value in main.items() if name not in migration.main_remove)
    after_main.update(migration.main_set)
    after_services = {}
    for service in services:
        removed, pins = migration.services.get(service.key, ((), {}))
        overrides = dict((name, value) for name, value in service.overrides.items() if name not in removed)
        overrides.update(pins)
        after_services[service.key] = overrides
    return after_main, after_services


@pytest.mark.parametrize("prefix, main_choices, service_choices", [
    ("smtpd", {"smtpd_use_tls": (None, "yes", "no"), "smtpd_enforce_tls": (None, "yes", "no"),
               "smtpd_tls_security_level": (None, "", "may", "encrypt"), "tlsproxy_use_tls": (None, "no")},
     {"smtpd_use_tls": (None, "yes", "no"), "smtpd_enforce_tls": (None, "yes", "no"),
      "smtpd_tls_security_level": (None, "", "encrypt")}),
    ("smtp", {"smtp_use_tls": (None, "yes", "no"), "smtp_enforce_tls": (None, "yes", "no"),
              "smtp_tls_enforce_peername": (None, "yes", "no"), "smtp_tls_security_level": (None, "", "may")},
     {"smtp_enforce_tls": (None, "yes", "no"), "smtp_tls_enforce_peername": (None, "no"),
      "smtp_tls_security_level": (None, "")}),
])
def test_every_level_is_kept_in_every_state(prefix, main_choices, service_choices):
    """The invariant: each role's level, globally and per service, is the same before, between
    the two writes (new master.cf, old main.cf) and after; no obsolete switch is left."""
    daemon = "smtpd" if prefix == "smtpd" else "smtp"
    roles = ("smtpd", "tlsproxy", "postscreen") if prefix == "smtpd" else ("smtp", "lmtp")
    checked = 0
    for main in _settings(main_choices):
        for overrides in _settings(service_choices):
            services = [Service("one/inet", daemon, overrides), Service("two/unix", daemon, {}),
                        Service("proxy/unix", "tlsproxy", {}), Service("screen/inet", "postscreen", {})]
            migration = plan(main, services)
            after_main, after_services = _apply(main, services, migration)
            assert not [name for name in after_main if "use_tls" in name or "enforce" in name]
            for role in roles:
                assert oracle(role, [after_main]) == oracle(role, [main]), (main, migration.main_set)
            for service in services:
                service_roles = [daemon] if service.command == daemon else [service.command]
                for role in service_roles:
                    before = oracle(role, [service.overrides, main])
                    for state in ([after_services[service.key], main], [after_services[service.key], after_main]):
                        assert oracle(role, state) == before, (role, main, overrides, migration.services)
                assert not [name for name in after_services[service.key] if "use_tls" in name or "enforce" in name]
            checked += 1
    assert checked == len(list(_settings(main_choices))) * len(list(_settings(service_choices)))
