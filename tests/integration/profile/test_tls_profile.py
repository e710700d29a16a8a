"""tls_profile on the real Postfix: one call per role, planned and checked before the first write.

Idempotence (the no-op run writes nothing, runs no postmap, probe or reload), check mode that
predicts the run, one validation for main.cf and master.cf together, the pre-flight (only new or
stronger entries probed; a refusal writes nothing and is a warning in check mode), downgrade,
the policy-map list, DANE's DNS setting, and bad input that changes nothing.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from conftest import effective_config, postmap, settle
from helpers import run_module, run_playbook, snapshot

PROFILE = "mailtls.postfix.tls_profile"
# Nothing listens on the discard port here: a probe fails at once, without DNS.
UNREACHABLE = "[127.0.0.1]:9"


def profile(localhost, config_dir, **args):
    args.setdefault("preflight", {"mode": "skip"})
    return run_module(localhost, PROFILE, config_dir=str(config_dir), **args)


def sender(config_dir, **extra):
    """A forced and an opportunistic sender's declaration, with a submission service."""
    args = dict(
        validate="postfix -c %s check",
        parameters={"smtp_tls_security_level": "may", "smtp_tls_loglevel": 1,
                    "smtp_tls_mandatory_protocols": ["!SSLv2", "!SSLv3", "!TLSv1", "!TLSv1.1"]},
        absent_parameters=["smtpd_use_tls"],
        policy_table={"path": str(config_dir / "tls_policy"), "destinations": ["partner.example"],
                      "policies": [{"destination": "bank.example", "level": "verify",
                                    "attributes": {"match": "hostname"}}],
                      "level": "encrypt", "include_subdomains": True},
        master_services=[{"service": "submission", "type": "inet", "private": "n", "chroot": "y",
                          "command": "smtpd", "options": {"smtpd_tls_security_level": "encrypt"}}],
    )
    args.update(extra)
    return args


def test_apply_then_noop_writes_nothing_and_runs_no_postmap_probe_or_reload(localhost, config_dir):
    args = sender(config_dir)
    first = profile(localhost, config_dir, **args)
    assert first["changed"] is True, first
    assert sorted(first["policy_table"]["added"]) == sorted(["partner.example", ".partner.example", "bank.example",
                                                            ".bank.example"])
    assert first["policy_table"]["postmap_run"] is True
    assert set(first["main_cf"]["changes"]) >= {"smtp_tls_loglevel", "smtp_tls_policy_maps",
                                                "smtp_tls_mandatory_protocols"}
    assert first["master_cf"]["services"]["submission/inet"]["before"] is None
    assert first["reload_required"] is True and first["reloaded"] is False  # reload: false (the default)
    lines = effective_config(config_dir)[0]
    assert "smtp_tls_policy_maps = hash:%s" % (config_dir / "tls_policy") in lines
    assert postmap("-q", "bank.example", "hash:%s" % (config_dir / "tls_policy")).stdout.strip() == \
        "verify match=hostname"
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)

    again = profile(localhost, config_dir, **args)
    assert again["changed"] is False, again
    assert again["policy_table"]["postmap_run"] is False and again["probes"] == {}
    assert again["reload_required"] is False and again["reloaded"] is False
    assert again["main_cf"]["changes"] == {} and again["master_cf"]["services"] == {}
    assert snapshot(config_dir) == before


def test_check_mode_predicts_the_run_exactly_and_writes_nothing(tmp_path, config_dir):
    task = {"name": "p", PROFILE: dict(sender(config_dir), config_dir=str(config_dir), preflight={"mode": "skip"})}
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    rc, check, output = run_playbook(tmp_path, [task], check=True, diff=True)
    assert rc == 0, output
    assert snapshot(config_dir) == before
    assert "+partner.example encrypt" in output and "+submission inet" in output and "+smtp_tls_loglevel = 1" in output
    rc, real, output = run_playbook(tmp_path, [task], diff=True)
    assert rc == 0, output
    for key in ("changed", "reload_required", "restart_required"):
        assert check["p"][key] == real["p"][key], key
    assert check["p"]["main_cf"] == real["p"]["main_cf"]
    assert check["p"]["master_cf"] == real["p"]["master_cf"]
    for key in ("added", "updated", "removed", "postmap_run"):
        assert check["p"]["policy_table"][key] == real["p"]["policy_table"][key], key
    rc, recheck, output = run_playbook(tmp_path, [task], check=True)
    assert rc == 0 and recheck["p"]["changed"] is False, output


def test_one_failed_validation_writes_no_file(localhost, config_dir):
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    result = profile(localhost, config_dir, **sender(config_dir, validate="false %s"))
    assert result.get("failed") and "validate: 'false %s' rejected the new configuration" in result["msg"], result
    assert snapshot(config_dir) == before, "no table, no master.cf, no main.cf"


def test_validation_sees_main_cf_and_master_cf_together(localhost, config_dir):
    """A service option naming a parameter main.cf gets in the same call: one scratch holds both."""
    args = dict(validate="postfix -c %s check",
                parameters={"mailtls_submission_level": "encrypt"},
                master_services=[{"service": "submission", "type": "inet", "private": "n", "chroot": "y",
                                  "command": "smtpd",
                                  "options": {"smtpd_tls_security_level": "$mailtls_submission_level"}}])
    result = profile(localhost, config_dir, **args)
    assert result["changed"] is True, result
    shown = subprocess.run(["postconf", "-c", str(config_dir), "-Px", "submission/inet/smtpd_tls_security_level"],
                           capture_output=True, text=True, check=True).stdout
    assert shown.strip() == "submission/inet/smtpd_tls_security_level = encrypt"


def test_preflight_refusal_writes_nothing_and_check_mode_warns_instead(tmp_path, localhost, config_dir):
    args = dict(parameters={"smtp_tls_loglevel": 1},
                policy_table={"path": str(config_dir / "tls_policy"), "destinations": [UNREACHABLE, "[127.0.0.1]:7"],
                              "level": "encrypt"},
                preflight={"mode": "refuse", "timeout": 5})
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    task = {"name": "p", PROFILE: dict(args, config_dir=str(config_dir))}
    rc, check, output = run_playbook(tmp_path, [task], check=True, diff=True)
    assert rc == 0, output
    assert check["p"]["changed"] is True and len(check["p"]["check_mode_refusals"]) == 1, check
    assert "check mode: the real run would refuse now: [127.0.0.1]:9 cannot take level encrypt" in output
    assert set(check["p"]["probes"]) == {UNREACHABLE, "[127.0.0.1]:7"}, "both probed, in one call"
    assert snapshot(config_dir) == before

    result = profile(localhost, config_dir, **args)
    assert result.get("failed"), result
    assert result["msg"].startswith("preflight: [127.0.0.1]:9 cannot take level encrypt (") or \
        result["msg"].startswith("preflight: [127.0.0.1]:7 cannot take level encrypt (")
    assert "[127.0.0.1]:9" in result["msg"] and "[127.0.0.1]:7" in result["msg"] and "nothing was changed" in result["msg"]
    assert snapshot(config_dir) == before

    args["preflight"] = {"mode": "warn", "timeout": 5}
    warned = profile(localhost, config_dir, **args)
    assert warned["changed"] is True and "forcing TLS anyway (preflight: warn)" in " ".join(warned["warnings"])


def test_only_new_or_stronger_entries_are_probed(localhost, config_dir):
    table = config_dir / "tls_policy"
    table.write_text("%s encrypt\n" % UNREACHABLE)
    postmap("hash:%s" % table)
    policy = {"path": str(table), "destinations": [UNREACHABLE], "level": "encrypt"}
    same = profile(localhost, config_dir, policy_table=policy, preflight={"mode": "refuse", "timeout": 5})
    assert same["probes"] == {} and not same.get("failed"), same
    stronger = profile(localhost, config_dir, policy_table=dict(policy, level="secure"),
                       preflight={"mode": "refuse", "timeout": 5})
    assert stronger.get("failed") and "cannot take level secure" in stronger["msg"], stronger
    assert table.read_text() == "%s encrypt\n" % UNREACHABLE


def test_downgrade_false_keeps_stronger_levels_and_entries(localhost, config_dir):
    profile(localhost, config_dir, parameters={"smtp_tls_security_level": "encrypt"},
            policy_table={"path": str(config_dir / "tls_policy"), "destinations": ["partner.example"],
                          "level": "verify"})
    result = profile(localhost, config_dir, downgrade=False, parameters={"smtp_tls_security_level": "may"},
                     policy_table={"path": str(config_dir / "tls_policy"),
                                   "destinations": ["partner.example", "other.example"], "level": "may"})
    assert result["main_cf"]["kept"] == {"smtp_tls_security_level": "encrypt"}, result
    assert result["policy_table"]["kept"] == ["partner.example"]
    assert result["policy_table"]["added"] == ["other.example"]
    assert "smtp_tls_security_level = encrypt" in effective_config(config_dir)[0]
    assert postmap("-q", "partner.example", "hash:%s" % (config_dir / "tls_policy")).stdout.strip() == "verify"


@pytest.mark.parametrize("maps, expected", [
    # The tables already there before extra_maps: a static entry always wins over MTA-STS.
    ("first", ["TABLE", "inline:{ {x.example=may} }", "socketmap:inet:127.0.0.1:8461:postfix"]),
    ("only", ["TABLE", "socketmap:inet:127.0.0.1:8461:postfix"]),
])
def test_policy_maps_first_or_only(localhost, config_dir, maps, expected):
    profile(localhost, config_dir, parameters={"smtp_tls_policy_maps": "inline:{ {x.example=may} }"})
    table = config_dir / "tls_policy"
    result = profile(localhost, config_dir, policy_table={
        "path": str(table), "destinations": ["a.example"], "level": "encrypt", "maps": maps,
        "extra_maps": ["socketmap:inet:127.0.0.1:8461:postfix"]})
    assert not result.get("failed"), result
    wanted = ", ".join(item.replace("TABLE", "hash:%s" % table) for item in expected)
    assert "smtp_tls_policy_maps = %s" % wanted in effective_config(config_dir)[0]


def test_dane_sets_the_dns_support_level_it_needs(localhost, config_dir):
    result = profile(localhost, config_dir, policy_table={"path": str(config_dir / "tls_policy"),
                                                          "destinations": ["dane.example"], "level": "dane"})
    assert result["main_cf"]["changes"]["smtp_dns_support_level"]["after"] == "dnssec", result
    kept = profile(localhost, config_dir, parameters={"smtp_dns_support_level": "enabled"},
                   policy_table={"path": str(config_dir / "tls_policy"), "destinations": ["dane.example"],
                                 "level": "dane"})
    assert "smtp_dns_support_level = enabled" in effective_config(config_dir)[0], kept


@pytest.mark.parametrize("args, message", [
    ({"parameters": {"smtp_tls_loglevel": "1\nrelayhost = [evil.example]"}}, "smtp_tls_loglevel"),
    ({"parameters": {"bad name": "x"}}, "parameters: 'bad name' is not a valid Postfix parameter name"),
    ({"parameters": {"relayhost": "x"}, "absent_parameters": ["relayhost"]},
     "absent_parameters: relayhost is also in parameters"),
    ({"master_services": [{"service": "submission", "type": "inet", "command": "smtpd",
                           "options": {"syslog_name": "a b"}}]}, "syslog_name"),
    ({"master_services": [{"service": "submission", "type": "inet"}]},
     "master_services[0]: submission/inet: command is required"),
    ({"master_services": [{"service": "s", "type": "inet", "command": "smtpd"},
                          {"service": "s", "type": "inet", "state": "absent"}]}, "s/inet is given twice"),
    ({"policy_table": {"destinations": ["a.example\nb.example encrypt"], "level": "encrypt"}}, "a.example"),
    ({"policy_table": {"destinations": ["a.example"]}}, "level"),
    ({"map_types": ["nosuch"]}, "map_types: 'nosuch' is not a table type a package adds"),
    ({"parameters": {"relayhost": "x"}, "validate": "postfix check"}, "validate: must contain %s"),
])
def test_bad_input_names_the_option_and_changes_nothing(localhost, config_dir, args, message):
    if "policy_table" in args:
        args["policy_table"]["path"] = str(config_dir / "tls_policy")
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    result = profile(localhost, config_dir, **args)
    assert result.get("failed") and message in result["msg"], result
    assert snapshot(config_dir) == before


def test_certificate_key_stays_secret_everywhere(tmp_path, config_dir):
    key = tmp_path / "source.key"
    cert = tmp_path / "source.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=mx.test",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    files = tmp_path / "installed"
    files.mkdir()
    task = {"name": "p", PROFILE: {
        "config_dir": str(config_dir), "preflight": {"mode": "skip"},
        "certificate": {"cert_file": str(files / "mx.pem"), "key_file": str(files / "mx.key"),
                        "cert_content": cert.read_text(), "key_content": key.read_text()},
        "parameters": {"smtpd_tls_cert_file": str(files / "mx.pem"), "smtpd_tls_key_file": str(files / "mx.key")}}}
    rc, results, output = run_playbook(tmp_path, [task], diff=True, extra_args=["-vvv"])
    assert rc == 0 and results["p"]["changed"] is True, output
    secret = key.read_text().split("\n")[1]  # a line of the key's base64
    assert secret not in output and secret not in str(results)
    assert oct(os.stat(str(files / "mx.key")).st_mode & 0o777) == "0o600"
    assert results["p"]["certificate"]["changed"] is True and results["p"]["reload_required"] is True


def test_map_types_report_missing_packages(localhost, config_dir):
    result = profile(localhost, config_dir, packages=["postfix", "mailtls-no-such-package"], map_types=["lmdb", "mysql"])
    assert result["missing_packages"] == ["mailtls-no-such-package", "postfix-mysql"], result
    assert result["postfix_installed"] is True and result["version"].startswith("3.")
    assert result["applied"] is False and result["changed"] is False, "nothing before the packages are there"


FORCED = {"parameters": {"smtp_tls_loglevel": 1}, "preflight": {"mode": "skip"},
          "policy_table": {"destinations": ["partner.example"], "level": "encrypt", "maps": "only",
                           "extra_maps": ["socketmap:inet:127.0.0.1:8461:postfix"]}}
OPPORTUNISTIC = {"downgrade": False, "parameters": {"smtp_tls_loglevel": 1, "smtp_tls_security_level": "may"},
                 "policy_table": {"destinations": ["partner.example", "legacy.example"], "level": "may",
                                  "maps": "first"}}


def with_table(declaration, table):
    return dict(declaration, policy_table=dict(declaration["policy_table"], path=str(table)))


@pytest.mark.parametrize("order", ["forced_first", "opportunistic_first"])
def test_declarations_of_two_profiles_merge_in_one_call(tmp_path, localhost, config_dir, order):
    """A sender in both profiles: one call, the forced entry stays forced whatever the order."""
    table = config_dir / "tls_policy"
    declarations = [with_table(FORCED, table), with_table(OPPORTUNISTIC, table)]
    if order == "opportunistic_first":
        declarations.reverse()
    task = {"name": "p", PROFILE: {"config_dir": str(config_dir), "declarations": declarations}}
    rc, check, output = run_playbook(tmp_path, [task], check=True)
    assert rc == 0, output
    rc, real, output = run_playbook(tmp_path, [task])
    assert rc == 0, output
    assert check["p"]["main_cf"] == real["p"]["main_cf"]
    assert check["p"]["policy_table"]["added"] == real["p"]["policy_table"]["added"]
    assert postmap("-q", "partner.example", "hash:%s" % table).stdout == "encrypt\n"
    assert postmap("-q", "legacy.example", "hash:%s" % table).stdout == "may\n"
    assert "smtp_tls_policy_maps = hash:%s, socketmap:inet:127.0.0.1:8461:postfix" % table \
        in effective_config(config_dir)[0]
    if order == "forced_first":
        assert real["p"]["policy_table"]["kept"] == ["partner.example"]
    again = run_module(localhost, PROFILE, config_dir=str(config_dir), declarations=declarations)
    assert again["changed"] is False, again


@pytest.mark.parametrize("second, message", [
    ({"policy_table": {"path": "/etc/postfix/other_policy", "destinations": ["b.example"], "level": "may"}},
     "declarations[1].policy_table: /etc/postfix/other_policy names another policy table"),
    ({"certificate": {"cert_file": "/x.pem", "key_file": "/x.key"}}, "declarations: two profiles give different"),
])
def test_declarations_that_cannot_merge_are_refused(localhost, config_dir, second, message):
    first = {"policy_table": {"path": str(config_dir / "tls_policy"), "destinations": ["a.example"],
                              "level": "encrypt"},
             "certificate": {"cert_file": "/y.pem", "key_file": "/y.key"}}
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    result = run_module(localhost, PROFILE, config_dir=str(config_dir), declarations=[first, second])
    assert result.get("failed") and message in result["msg"], result
    assert snapshot(config_dir) == before


def test_each_declaration_has_its_own_preflight(localhost, config_dir):
    table = str(config_dir / "tls_policy")
    warn = {"policy_table": {"path": table, "destinations": [UNREACHABLE], "level": "encrypt"},
            "preflight": {"mode": "warn", "timeout": 5}}
    skip = {"policy_table": {"path": table, "destinations": ["[127.0.0.1]:7"], "level": "encrypt"},
            "preflight": {"mode": "skip"}}
    result = run_module(localhost, PROFILE, config_dir=str(config_dir), declarations=[warn, skip])
    assert result["changed"] is True and list(result["probes"]) == [UNREACHABLE], result
    refuse = dict(skip, preflight={"mode": "refuse", "timeout": 5},
                  policy_table=dict(skip["policy_table"], destinations=["[127.0.0.1]:6"]))
    refused = run_module(localhost, PROFILE, config_dir=str(config_dir), declarations=[warn, refuse])
    assert refused.get("failed") and "[127.0.0.1]:6 cannot take level encrypt" in refused["msg"], refused
    assert UNREACHABLE not in refused["msg"], "the warn profile's own entry does not refuse"


def test_a_main_cf_with_an_appended_override_takes_the_profile(localhost, config_dir):
    """Removing smtpd_use_tls moves the line of an override appended below it; Postfix's warning stays the same."""
    with open(config_dir / "main.cf", "a") as main_cf:
        main_cf.write("smtpd_use_tls=yes\n# local changes\nsmtpd_banner = $myhostname ESMTP\n")
    settle(config_dir / "main.cf")
    result = profile(localhost, config_dir, **sender(config_dir))
    assert result.get("failed") is not True and result["changed"] is True, result
    lines = effective_config(config_dir)[0]
    assert "smtp_tls_loglevel = 1" in lines and not any(line.startswith("smtpd_use_tls") for line in lines)
    assert "smtpd_banner = $myhostname ESMTP" in lines
