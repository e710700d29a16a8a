"""Adversarial: hostile text in every free-text field, pattern tables, map lists, and roles that disagree.

Injection cases run with --check --diff first (nothing may be shown that looks like an
injected line) and then for real (nothing on disk may change).
"""

from __future__ import annotations

import pytest
from conftest import effective_config, postmap, settle
from helpers import run_module, run_playbook, snapshot

EVIL = "evil.example none"

# (module, arguments, the parameter the error must name)
INJECTIONS = [
    ("postconf", {"name": "smtpd_banner\nsmtp_tls_security_level", "value": "none"}, "name"),
    ("postconf", {"name": "smtpd_banner", "value": "x\nsmtp_tls_security_level = none"}, "smtpd_banner"),
    ("postconf", {"name": "smtpd_banner", "value": "x\rsmtp_tls_security_level = none"}, "smtpd_banner"),
    ("postconf", {"name": "smtpd_banner", "value": "x\0y"}, "smtpd_banner"),
    ("postconf", {"parameters": {"smtp_tls_security_level\n": "none"}}, "parameters"),
    ("postconf", {"parameters": {"smtp_tls_loglevel": ["1", "2\nsmtp_tls_security_level = none"]}},
     "smtp_tls_loglevel"),
    ("postconf", {"parameters": ["smtpd_banner\n"], "state": "absent"}, "parameters"),
    ("lookup_table", {"key": "a.example\n" + EVIL, "value": "OK"}, "key"),
    ("lookup_table", {"key": "a.example\tb", "value": "OK"}, "key"),
    ("lookup_table", {"key": "#a.example", "value": "OK"}, "key"),
    ("lookup_table", {"key": "a.example", "value": "OK\n" + EVIL}, "a.example"),
    ("lookup_table", {"key": "a.example", "value": "OK\r" + EVIL}, "a.example"),
    ("lookup_table", {"key": "a.example", "value": "OK\0"}, "a.example"),
    ("lookup_table", {"entries": {"a.example\n" + EVIL: "OK"}}, "entries"),
    ("lookup_table", {"entries": {"a.example": "OK\n" + EVIL}}, "a.example"),
    ("lookup_table", {"key": "a.example", "value": "OK", "type": "hash\n"}, "type"),
    ("tls_policy", {"destination": "partner.example\n" + EVIL, "level": "encrypt"}, "destination"),
    ("tls_policy", {"destinations": ["ok.example", "[mx.example]\n" + EVIL], "level": "encrypt"}, "destination"),
    ("tls_policy", {"policies": [{"destination": "p.example\n" + EVIL, "level": "encrypt"}]}, "destination"),
    ("tls_policy", {"destination": "p.example", "level": "encrypt", "attributes": {"ciphers": "high\n" + EVIL}},
     "attributes.ciphers"),
    ("tls_policy", {"destination": "p.example", "level": "encrypt",
                    "attributes": {"protocols": ">=TLSv1.2\n" + EVIL}}, "attributes.protocols"),
    ("tls_policy", {"destination": "p.example", "level": "encrypt", "attributes": {"exclude": "aNULL\n" + EVIL}},
     "attributes.exclude"),
    ("tls_policy", {"destination": "p.example", "level": "secure", "attributes": {"match": "nexthop\n" + EVIL}},
     "attributes.match"),
    ("tls_policy", {"destination": "p.example", "level": "secure", "attributes": {"tafile": "/etc/ta.pem\n/x"}},
     "attributes.tafile"),
    ("tls_policy", {"destination": "p.example", "level": "secure", "attributes": {"tafile": "/etc/ta.pem\x0b/x"}},
     "attributes.tafile"),
    ("tls_policy", {"destination": "p.example", "level": "encrypt",
                    "attributes": {"servername": "mx.example\n" + EVIL}}, "attributes.servername"),
    ("tls_policy", {"destination": "p.example", "level": "encrypt",
                    "attributes": {"connection_reuse": "yes\n" + EVIL}}, "attributes.connection_reuse"),
    ("tls_policy", {"destination": "p.example", "level": "encrypt", "type": "hash\n"}, "type"),
]


@pytest.mark.parametrize("module, args, parameter", INJECTIONS,
                         ids=["%s-%d" % (case[0], index) for index, case in enumerate(INJECTIONS)])
def test_injection_is_refused_before_anything_is_shown_or_written(tmp_path, config_dir, module, args, parameter):
    args = dict(args, config_dir=str(config_dir))
    if module != "postconf":
        args.setdefault("path", str(config_dir / "table"))
    (config_dir / "table").write_text("existing.example OK\n")
    postmap("hash:%s" % (config_dir / "table"))
    before = snapshot(config_dir)
    play = [{"name": "hostile", "mailtls.postfix." + module: args}]
    rc, results, output = run_playbook(tmp_path, play, check=True, diff=True)
    assert rc != 0, output
    message = results["hostile"]["msg"]
    assert message.startswith(parameter + ":"), message
    assert "--- before" not in output and "+++ after" not in output, "a diff was shown: " + output
    rc, results, output = run_playbook(tmp_path, play)
    assert rc != 0 and results["hostile"]["msg"] == message
    assert snapshot(config_dir) == before


# --- pattern tables ------------------------------------------------------------------------------

BLOCKS = """\
if /^From:/
/example\\.com/ REJECT from
endif
if /^To:/
/example\\.com/ REJECT to
endif
"""


@pytest.mark.parametrize("table_type", ["regexp", "pcre"])
def test_if_endif_blocks_are_structure_not_duplicates(localhost, config_dir, table_type):
    path = config_dir / "header_checks"
    path.write_text(BLOCKS)
    result = run_module(localhost, "mailtls.postfix.lookup_table", config_dir=str(config_dir), path=str(path),
                        type=table_type, entries={"/example\\.com/": "DISCARD", "/^Subject:.spam/": "REJECT"})
    assert result["changed"] is True and result["updated"] == [] and result["removed"] == [], result
    assert result["added"] == ["/example\\.com/", "/^Subject:.spam/"]
    assert path.read_text() == BLOCKS + "/example\\.com/ DISCARD\n/^Subject:.spam/ REJECT\n"
    # Both block rules still work, and so does the new top-level one.
    table = "%s:%s" % (table_type, path)
    assert postmap("-q", "From: x@example.com", table).stdout == "REJECT from\n"
    assert postmap("-q", "To: x@example.com", table).stdout == "REJECT to\n"
    exclusive = run_module(localhost, "mailtls.postfix.lookup_table", config_dir=str(config_dir), path=str(path),
                           type=table_type, key="/x/", value="OK", exclusive=True)
    assert exclusive["failed"] and exclusive["msg"].startswith("exclusive: ") and "if/endif blocks" in \
        exclusive["msg"]


@pytest.mark.parametrize("table_type, key, reason", [
    ("regexp", "/foo(/", "Unmatched ( or \\("),
    ("pcre", "/foo(/", "missing closing parenthesis"),
    ("cidr", "300.1.2.3/33", "bad"),
    ("cidr", "192.0.2.0/24x", "bad"),
])
def test_entries_postmap_would_skip_are_refused(tmp_path, config_dir, table_type, key, reason):
    path = config_dir / "checks"
    path.write_text("# hand-written\n")
    before = snapshot(config_dir)
    play = [{"name": "bad", "mailtls.postfix.lookup_table": {
        "config_dir": str(config_dir), "path": str(path), "type": table_type, "key": key, "value": "REJECT"}}]
    for check_mode in (True, False):  # check mode predicts the refusal from a private copy
        rc, results, output = run_playbook(tmp_path, play, check=check_mode)
        assert rc != 0, output
        message = results["bad"]["msg"]
        assert "postmap would skip what this task writes (line 2: " in message and reason in message, message
    assert snapshot(config_dir) == before


def test_a_bad_line_the_task_did_not_write_is_a_warning(localhost, config_dir):
    path = config_dir / "checks"
    path.write_text("/foo(/ REJECT\n")
    result = run_module(localhost, "mailtls.postfix.lookup_table", config_dir=str(config_dir), path=str(path),
                        type="regexp", key="/^ok/", value="OK")
    assert result["changed"] is True
    assert any("postmap skips line 1, which this task did not write" in w for w in result.get("warnings", []))


# --- map lists as Postfix reads them ----------------------------------------------------------

def test_postfix_info_expands_names_and_keeps_inline_tables_whole(localhost, config_dir):
    policy = config_dir / "tls_policy"
    policy.write_text("partner.example encrypt\n")
    postmap("hash:%s" % policy)
    main_cf = config_dir / "main.cf"
    main_cf.write_text(main_cf.read_text() + "pol = hash:%s\nsmtp_tls_policy_maps = $pol, "
                       "inline:{ {a.example = encrypt}, {b.example=may} } socketmap:inet:127.0.0.1:8461:postfix\n"
                       % policy)
    settle(main_cf)
    result = run_module(localhost, "mailtls.postfix.postfix_info", config_dir=str(config_dir))
    tables = result["policy_tables"]["smtp_tls_policy_maps"]
    assert [t["table"] for t in tables] == ["hash:%s" % policy, "inline:{ {a.example = encrypt}, {b.example=may} }",
                                            "socketmap:inet:127.0.0.1:8461:postfix"]
    assert tables[0]["file"] is True and tables[0]["entries"] == 1 and tables[0]["index_fresh"] is True
    assert [t["file"] for t in tables[1:]] == [False, False]
    assert [t["type"] for t in tables] == ["hash", "inline", "socketmap"]
    assert result["policy_maps"]["smtp_tls_policy_maps"] == [
        "$pol", "inline:{ {a.example = encrypt}, {b.example=may} }", "socketmap:inet:127.0.0.1:8461:postfix"]


def role_task(role, config_dir, **role_vars):
    role_vars.update(server_config_dir=str(config_dir), server_manage_packages=False, server_manage_service=False,
                     tls_forced_preflight="skip")
    return {"name": role, "ansible.builtin.include_role": {"name": "mailtls.postfix." + role}, "vars": role_vars}


def test_opportunistic_keeps_an_inline_policy_table(tmp_path, config_dir):
    main_cf = config_dir / "main.cf"
    main_cf.write_text(main_cf.read_text() + "smtp_tls_policy_maps = inline:{ {a.example = encrypt} }\n")
    settle(main_cf)
    tasks = [role_task("tls_opportunistic", config_dir, tls_opportunistic_destinations=["legacy.example"],
                       tls_opportunistic_policy_table=str(config_dir / "tls_policy"))]
    rc, _results, output = run_playbook(tmp_path, tasks)
    assert rc == 0, output
    assert "smtp_tls_policy_maps = hash:%s/tls_policy, inline:{ {a.example = encrypt} }" % config_dir \
        in effective_config(config_dir)[0]
    assert postmap("-q", "a.example", "inline:{ {a.example = encrypt} }").stdout == "encrypt\n"
    rc, _results, output = run_playbook(tmp_path, tasks)
    assert rc == 0 and "changed=0" in output, output


@pytest.mark.parametrize("order", ["forced_first", "opportunistic_first"])
def test_a_destination_in_both_profiles_stays_forced(tmp_path, config_dir, order):
    shared = {"tls_forced_policy_table": str(config_dir / "tls_policy"),
              "tls_opportunistic_policy_table": str(config_dir / "tls_policy"),
              "tls_forced_destinations": ["partner.example"],
              "tls_opportunistic_destinations": ["partner.example", "legacy.example"]}
    tasks = [role_task("tls_forced", config_dir, **shared), role_task("tls_opportunistic", config_dir, **shared)]
    if order == "opportunistic_first":
        tasks.reverse()
    rc, _results, output = run_playbook(tmp_path, tasks)
    assert rc == 0, output
    table = "hash:%s" % (config_dir / "tls_policy")
    assert postmap("-q", "partner.example", table).stdout == "encrypt\n"
    assert postmap("-q", "legacy.example", table).stdout == "may\n"
    if order == "forced_first":
        assert "partner.example keeps 'encrypt'" in output
    rc, _results, output = run_playbook(tmp_path, tasks)
    assert rc == 0 and "changed=0" in output, output
    assert postmap("-q", "partner.example", table).stdout == "encrypt\n"


def test_opportunistic_never_lowers_a_stronger_global_level(tmp_path, config_dir):
    main_cf = config_dir / "main.cf"
    main_cf.write_text(main_cf.read_text() + "smtp_tls_security_level = encrypt\n")
    settle(main_cf)
    rc, _results, output = run_playbook(tmp_path, [role_task("tls_opportunistic", config_dir)])
    assert rc == 0, output
    assert "smtp_tls_security_level = encrypt" in effective_config(config_dir)[0]


def test_forced_bracketed_next_hop_with_the_default_include_subdomains(tmp_path, config_dir):
    tasks = [role_task("tls_forced", config_dir, tls_forced_policy_table=str(config_dir / "tls_policy"),
                       tls_forced_destinations=["[mx.partner.example]:587", "partner.example"])]
    rc, _results, output = run_playbook(tmp_path, tasks)
    assert rc == 0, output
    assert (config_dir / "tls_policy").read_text() == (
        "[mx.partner.example]:587 encrypt\npartner.example encrypt\n.partner.example encrypt\n")
    rc, _results, output = run_playbook(tmp_path, tasks)
    assert rc == 0 and "changed=0" in output, output


def test_server_migrates_obsolete_overrides_found_only_in_master_cf(tmp_path, config_dir):
    master_cf = config_dir / "master.cf"
    master_cf.write_text(master_cf.read_text() + "submission inet n - y - - smtpd\n  -o smtpd_enforce_tls=yes\n")
    rc, _results, output = run_playbook(tmp_path, [role_task("server", config_dir)])
    assert rc == 0, output
    assert "smtpd_enforce_tls" not in master_cf.read_text()
    assert "-o smtpd_tls_security_level=encrypt" in master_cf.read_text()


def test_patterns_with_spaces_are_whole_keys(localhost, config_dir):
    path = config_dir / "header_checks"
    path.write_text("/^Subject: hello world/ REJECT greeting\n/^Subject: hello there/ REJECT other\n")
    args = dict(config_dir=str(config_dir), path=str(path), type="regexp")
    result = run_module(localhost, "mailtls.postfix.lookup_table", key="/^Subject: hello world/",
                        value="DISCARD", **args)
    assert result["updated"] == ["/^Subject: hello world/"] and result["added"] == [], result
    assert path.read_text() == "/^Subject: hello world/ DISCARD\n/^Subject: hello there/ REJECT other\n"
    assert postmap("-q", "Subject: hello there", "regexp:%s" % path).stdout == "REJECT other\n"
    again = run_module(localhost, "mailtls.postfix.lookup_table", key="/^Subject: hello world/",
                       value="DISCARD", **args)
    assert again["changed"] is False
    bad = run_module(localhost, "mailtls.postfix.lookup_table", key="/^Subject: x/ OK", value="DISCARD", **args)
    assert bad["failed"] and bad["msg"].startswith("key: key '/^Subject: x/ OK' is not one /pattern/flags")


# --- found by the second hostile review ----------------------------------------------------------

def test_downgrade_false_keeps_stronger_entries_even_with_exclusive(localhost, config_dir):
    path = config_dir / "tls_policy"
    path.write_text("example.com secure match=nexthop\n.example.com encrypt\n")
    postmap("hash:%s" % path)
    result = run_module(localhost, "mailtls.postfix.tls_policy", config_dir=str(config_dir), path=str(path),
                        destinations=["example.com", "other.example"], level="may", include_subdomains=True,
                        downgrade=False, exclusive=True)
    assert result["kept"] == [".example.com", "example.com"] and result["removed"] == [], result
    assert path.read_text() == ("example.com secure match=nexthop\n.example.com encrypt\n"
                                "other.example may\n.other.example may\n")


def test_downgrade_false_respects_a_parent_domain_entry(localhost, config_dir):
    path = config_dir / "tls_policy"
    path.write_text(".example.com encrypt\n")
    postmap("hash:%s" % path)
    result = run_module(localhost, "mailtls.postfix.tls_policy", config_dir=str(config_dir), path=str(path),
                        destination="mx1.example.com", level="may", downgrade=False)
    assert result["changed"] is False and result["kept"] == ["mx1.example.com"], result
    assert any("mx1.example.com keeps 'encrypt'" in warning for warning in result["warnings"])
    assert path.read_text() == ".example.com encrypt\n"


def test_a_rule_is_never_appended_inside_an_unclosed_if_block(tmp_path, config_dir):
    path = config_dir / "checks"
    path.write_text("if /^a/\n/x/ OK\n")
    before = snapshot(config_dir)
    play = [{"name": "add", "mailtls.postfix.lookup_table": {
        "config_dir": str(config_dir), "path": str(path), "type": "regexp", "key": "/^bad[.]example$/",
        "value": "REJECT"}}]
    for check_mode in (True, False):
        rc, results, output = run_playbook(tmp_path, play, check=check_mode)
        assert rc != 0 and "an if block without its endif" in results["add"]["msg"], output
    assert snapshot(config_dir) == before


@pytest.mark.parametrize("module, args", [
    ("postfix_info", {}),
    ("postconf", {"name": "smtp_tls_loglevel", "value": "1"}),
    ("master_cf", {"service": "submission", "type": "inet", "command": "smtpd"}),
    ("tls_migrate", {}),
    ("lookup_table", {"path": "TABLE", "key": "a.example", "value": "OK"}),
])
def test_a_fifo_master_cf_fails_at_once(tmp_path, config_dir, module, args):
    (config_dir / "master.cf").unlink()
    import os
    os.mkfifo(str(config_dir / "master.cf"))
    args = dict((name, str(config_dir / "t") if value == "TABLE" else value) for name, value in args.items())
    play = [{"name": "fifo", "mailtls.postfix." + module: dict(args, config_dir=str(config_dir)),
             "timeout": 60}]
    rc, results, output = run_playbook(tmp_path, play)
    assert rc != 0 and results["fifo"]["msg"].endswith("master.cf is not a regular file"), output


def test_a_value_postconf_warns_about_is_refused(localhost, config_dir):
    before = snapshot(config_dir)
    result = run_module(localhost, "mailtls.postfix.postconf", config_dir=str(config_dir),
                        name="smtpd_banner", value="{ $myhostname ESMTP")
    assert result["failed"] is True
    assert result["msg"].startswith("postconf warns about the new main.cf: warning: main.cf: "
                                    "missing '}' in"), result["msg"]
    assert snapshot(config_dir) == before
    # A value Postfix reads without complaint, braces and all, still goes through.
    fine = run_module(localhost, "mailtls.postfix.postconf", config_dir=str(config_dir),
                      name="smtpd_banner", value="{ $myhostname ESMTP }")
    assert fine["changed"] is True, fine


@pytest.mark.parametrize("module", ["postconf", "lookup_table", "master_cf"])
def test_check_mode_predicts_the_refusal_of_a_hard_linked_temporary(tmp_path, config_dir, module):
    import os
    args = {"postconf": {"name": "smtp_tls_loglevel", "value": "2"},
            "lookup_table": {"path": str(config_dir / "t"), "key": "a.example", "value": "OK"},
            "master_cf": {"service": "submission", "type": "inet", "command": "smtpd"}}[module]
    target = {"postconf": "main.cf", "lookup_table": "t", "master_cf": "master.cf"}[module]
    outside = tmp_path / "outside"
    outside.write_text("x\n")
    os.link(str(outside), str(config_dir / (target + ".tmp")))
    play = [{"name": "linked", "mailtls.postfix." + module: dict(args, config_dir=str(config_dir))}]
    for check_mode in (True, False):
        rc, results, output = run_playbook(tmp_path, play, check=check_mode)
        assert rc != 0 and "is a hard link or belongs to another user" in results["linked"]["msg"], output


# --- values Postfix cannot use (issue 18.8): an integer that holds a line break Python knows ----------

@pytest.mark.parametrize("value", ["1\u2028smtp_tls_security_level = none", "1\x85", "1\x0b2", "1\x1c"],
                         ids=["U+2028", "U+0085", "VT", "U+001C"])
def test_a_line_break_of_any_kind_is_refused_in_an_integer_parameter(localhost, config_dir, value):
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    result = run_module(localhost, "mailtls.postfix.tls_profile", config_dir=str(config_dir),
                        validate="postfix -c %s check", parameters={"smtp_tls_loglevel": value})
    assert result.get("failed") is True and result["msg"].startswith("smtp_tls_loglevel:"), result
    assert snapshot(config_dir) == before


@pytest.mark.parametrize("module", ["postconf", "tls_profile"])
@pytest.mark.parametrize("value", ["\u0661", "1x", "\uff11"], ids=["arabic-indic-1", "1x", "fullwidth-1"])
def test_an_integer_parameter_takes_ascii_digits_only(localhost, config_dir, module, value):
    """postconf and postfix check accept smtp_tls_loglevel = 1x; every smtp client then exits with
    "bad numerical configuration": refused before anything is written."""
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    result = run_module(localhost, "mailtls.postfix." + module, config_dir=str(config_dir),
                        validate="postfix -c %s check", parameters={"smtp_tls_loglevel": value})
    assert result.get("failed") is True and result["msg"].startswith("smtp_tls_loglevel:"), result
    assert "integer" in result["msg"]
    assert snapshot(config_dir) == before
    good = run_module(localhost, "mailtls.postfix." + module, config_dir=str(config_dir),
                      validate="postfix -c %s check", parameters={"smtp_tls_loglevel": "$smtpd_tls_loglevel"})
    assert good.get("failed") is not True, good
