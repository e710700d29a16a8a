"""The record of what each named profile wrote, and what taking it back means (plan/ownership.py)."""

from __future__ import annotations

import json

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import ConfigError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.ownership import (
    FORMAT_1, HOST_UNASKED, RECORD_FORMAT, entries_of, listed_services, lowered, lowered_warning, outside, parameters_of,
    parse_profiles_record, recorded_services, release, render_profiles_record, replaced_value, service_texts,
    services_back)

CONFIG = "/etc/postfix"


def profile(parameters=None, entries=None, files=(), services=None):
    table = {"path": CONFIG + "/tls_policy", "type": "hash", "entries": entries} if entries is not None else None
    return {"parameters": parameters or {}, "table": table, "files": list(files), "services": services or {}}


def written(value, replaced=None):
    return {"value": value, "replaced": replaced}


def test_a_record_reads_back_what_it_renders():
    profiles = {"tls_forced": profile({"smtp_tls_loglevel": written("1")}, {"a.example": written("encrypt")},
                                      [CONFIG + "/tls_policy"])}
    text = render_profiles_record(profiles)
    assert json.loads(text)["format"] == RECORD_FORMAT
    assert parse_profiles_record(text, CONFIG + "/r.json", CONFIG) == profiles


def test_a_record_with_nothing_left_goes():
    assert render_profiles_record({"tls_forced": profile()}) is None


@pytest.mark.parametrize("text, problem", [
    ("{not json", "not UTF-8 JSON"),
    ('{"format": "%s", "profiles": {"x": {"parameters": {"a": {"value": "4h\\udcff", "replaced": null}}, '
     '"table": null, "files": []}}}' % RECORD_FORMAT, "is not {value, replaced}"),
    (json.dumps({"format": RECORD_FORMAT, "profiles": {"x": profile({"relayhost =\nrelayhost": written("x")})}}),
     "is not a valid Postfix parameter name"),
    (json.dumps({"format": RECORD_FORMAT, "profiles": {"x": dict(profile(entries={}), table={
        "path": CONFIG + "/t", "type": "bogus", "entries": {}})}}), "is not {path, type, entries}"),
    (json.dumps({"format": RECORD_FORMAT, "profiles": {"x": profile(services={"smtp/inet": written(
        "smtp inet x x x x x smtpd\n")})}}), "services.smtp/inet: private:"),
    (json.dumps({"profiles": {}}), "format"),
    (json.dumps({"format": RECORD_FORMAT, "profiles": {"x": dict(profile(entries={}), table={
        "path": "/srv/elsewhere", "type": "hash", "entries": {}})}}),
     "/srv/elsewhere is outside /etc/postfix and no declaration of this call names it"),
    (json.dumps({"format": RECORD_FORMAT, "profiles": {"x": profile(files=[CONFIG + "/../shadow"])}}),
     "is not an absolute, normal path"),
    (json.dumps({"format": RECORD_FORMAT, "profiles": {"x": profile(files=[CONFIG + "/main.cf"])}}),
     "which no profile creates"),
    (json.dumps({"format": RECORD_FORMAT, "profiles": {"x": profile({"a": {"value": 1}})}}), "is not {value, replaced}"),
    (json.dumps({"format": RECORD_FORMAT, "profiles": {"x": profile(services={"submission": written("x")})}}),
     "'submission' is not service/type"),
    (json.dumps({"format": RECORD_FORMAT, "profiles": {"x": profile(services={"a b/inet": written("x")})}}),
     "is not a master.cf service name"),
    (json.dumps({"format": RECORD_FORMAT, "profiles": {"x": profile(services={"a/tcp": written("x")})}}),
     "is not a service type"),
    (json.dumps({"format": RECORD_FORMAT, "profiles": {"x": profile(services={"a/inet": written("x")})}}),
     "services.a/inet is not one a/inet entry"),
    (json.dumps({"format": RECORD_FORMAT, "profiles": {"x": profile(services={"a/inet": written(
        "b inet n - y - - smtpd\n")})}}), "services.a/inet is not one a/inet entry"),
    (json.dumps({"format": RECORD_FORMAT, "profiles": {"x": profile(services={"a/inet": written(
        "a inet n - y - - smtpd\na inet n - y - - smtpd\n")})}}), "services.a/inet is not one a/inet entry"),
])
def test_a_record_that_is_not_ours_is_refused_naming_it(text, problem):
    with pytest.raises(ConfigError) as error:
        parse_profiles_record(text, CONFIG + "/mailtls-profiles.json", CONFIG)
    assert str(error.value).startswith("%s/mailtls-profiles.json is not the collection's record" % CONFIG)
    assert problem in str(error.value)


def test_a_file_outside_the_config_dir_is_kept_in_the_record_but_never_deleted_unnamed():
    text = json.dumps({"format": RECORD_FORMAT, "profiles": {"x": profile(files=["/etc/ssl/mailtls.pem"])}})
    assert parse_profiles_record(text, "r", CONFIG)["x"]["files"] == ["/etc/ssl/mailtls.pem"]
    assert outside("/etc/ssl/mailtls.pem", CONFIG, set())
    assert not outside("/etc/ssl/mailtls.pem", CONFIG, {"/etc/ssl/mailtls.pem"})
    assert not outside(CONFIG + "/tls_policy", CONFIG, set())


def test_release_restores_removes_and_keeps_what_someone_changed():
    profiles = {"tls_forced": profile({"a": written("1"), "b": written("x", "old"), "c": written("2"),
                                       "d": written("3")})}
    restore, changed = release("tls_forced", ["a", "b", "c", "d"], parameters_of, profiles, set(),
                               {"a": "1", "b": "x", "c": "edited", "d": "3"}, {"d"})
    assert restore == {"a": None, "b": "old"}
    assert changed == {"c": ("2", "edited")}


def test_what_another_profile_still_holds_stays_until_the_last_lets_go():
    profiles = {"tls_forced": profile({"loglevel": written("1")}), "tls_opportunistic": profile({"loglevel": written("1")})}
    assert release("tls_forced", ["loglevel"], parameters_of, profiles, set(), {"loglevel": "1"}, set()) == ({}, {})
    both = {"tls_forced", "tls_opportunistic"}
    assert release("tls_forced", ["loglevel"], parameters_of, profiles, both, {"loglevel": "1"}, set()) == \
        ({"loglevel": None}, {})


def test_the_replaced_value_is_the_one_before_the_collection():
    profiles = {"tls_forced": profile(entries={"a.example": written("encrypt", "may")})}
    assert replaced_value("a.example", entries_of, profiles, "tls_opportunistic", "encrypt") == "may"
    assert replaced_value("a.example", entries_of, profiles, "tls_forced", "secure") == "may"
    assert replaced_value("b.example", entries_of, profiles, "tls_opportunistic", None) is None


def test_a_removed_forced_entry_says_the_level_mail_now_gets():
    removed = {"bank.example": "encrypt", ".bank.example": "encrypt", "friend.example": "may"}
    found = lowered(removed, {}, True, "may")
    assert found == [{"destination": "bank.example", "was": "encrypt", "now": "may", "subdomains": True,
                      "by": "main.cf's smtp_tls_security_level"}]
    assert lowered_warning("tls_forced", found[0], "/etc/postfix/tls_policy") == (
        "TLS lowered for bank.example and its sub-domains: tls_forced no longer lists it, so its encrypt entry was "
        "removed from /etc/postfix/tls_policy; mail to it now gets TLS level may (main.cf's smtp_tls_security_level)")


def test_a_covering_entry_decides_while_main_cf_names_the_table():
    entries = {".example.com": "verify"}
    assert lowered({"mx.example.com": "secure"}, entries, True, "may")[0]["now"] == "verify"
    assert lowered({"mx.example.com": "verify"}, entries, True, "may") == []
    assert lowered({"mx.example.com": "verify"}, entries, False, "")[0]["now"] == "none"


def test_a_format_1_record_reads_as_before_its_server_part_unasked():
    old = {"parameters": {"a": written("1")}, "table": None, "files": []}
    text = json.dumps({"format": FORMAT_1, "profiles": {"server": old, "tls_forced": old}})
    assert parse_profiles_record(text, "r", CONFIG) == {HOST_UNASKED: dict(old, services={}),
                                                        "tls_forced": dict(old, services={})}


SUBMISSION = ("submission inet  n       -       y       -       -       smtpd\n"
              "  -o syslog_name=postfix/submission\n  -o smtpd_tls_security_level=encrypt\n")
MASTER = ("smtp      inet  n       -       y       -       -       smtpd\n"
          "submission inet n - y - - smtpd\n  -o syslog_name=postfix/submission\n  -o smtpd_tls_security_level=encrypt\n")


def test_services_are_recorded_in_one_rendering_and_put_back_as_declarations():
    texts = service_texts(MASTER)
    assert texts["submission/inet"] == SUBMISSION
    item = {"master_services": [{"service": "submission", "type": "inet"}, {"service": "smtps", "type": "inet"}]}
    assert listed_services(item) == {"submission/inet", "smtps/inet"}
    record = recorded_services(listed_services(item), "tls_receiving", {}, {}, texts)
    assert record == {"submission/inet": written(SUBMISSION)}, "a service that was and stays absent is not recorded"
    back = services_back({"submission/inet": None, "smtp/inet": texts["smtp/inet"]})
    assert back == [
        {"service": "smtp", "type": "inet", "state": "present", "private": "n", "unprivileged": "-", "chroot": "y",
         "wakeup": "-", "maxproc": "-", "command": "smtpd", "args": [], "options": {}},
        {"service": "submission", "type": "inet", "state": "absent"}]
