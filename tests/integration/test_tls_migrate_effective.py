"""tls_migrate on what Postfix reads: expanded values, master.cf overrides, every service's level kept."""

from __future__ import annotations

import pytest
from conftest import MASTER_CF_DIST, make_config_dir, postconf, settle
from helpers import run_module, run_playbook, snapshot

SUBMISSION = ("submission inet n - y - - smtpd\n"
              "  -o syslog_name=postfix/submission\n"
              "  -o smtpd_enforce_tls=yes\n"
              "  -o smtpd_sasl_auth_enable=yes\n")


def configured(tmp_path, main_cf, extra_master_cf=""):
    config_dir = make_config_dir(tmp_path / "pf", main_cf)
    (config_dir / "master.cf").write_text(MASTER_CF_DIST.read_text() + extra_master_cf)
    return config_dir


def _values(text):
    values = {}
    for line in text.splitlines():
        name, _sep, value = line.partition(" =")
        values[name] = value.strip()
    return values


def tls_levels(config_dir):
    """The level Postfix applies to every smtpd, smtp and lmtp service and globally, computed here
    from postconf -x, -xP and -M with postconf(5)'s rules, apart from the module's own code."""
    settle(config_dir / "main.cf")
    every = _values(postconf("-c", str(config_dir), "-x").stdout)
    overrides = {}
    for name, value in _values(postconf("-c", str(config_dir), "-x", "-P").stdout).items():
        key, _sep, option = name.rpartition("/")
        overrides.setdefault(key, {})[option] = value
    levels = dict(("global " + prefix, _level(prefix, every)) for prefix in ("smtpd", "smtp", "lmtp"))
    for line in postconf("-c", str(config_dir), "-M").stdout.splitlines():
        words = line.split()
        key, command = "%s/%s" % (words[0], words[1]), words[7]
        if command in ("smtpd", "smtp", "lmtp"):
            levels[key] = _level(command, dict(every, **overrides.get(key, {})))
    return levels


def _level(prefix, values):
    if prefix == "smtpd" and values["smtpd_tls_wrappermode"] == "yes":
        return "wrappermode"
    level = values[prefix + "_tls_security_level"]
    if level:
        return "encrypt" if prefix == "smtpd" and level in ("verify", "secure") else level
    if values[prefix + "_enforce_tls"] == "yes":
        return "verify" if prefix != "smtpd" and values[prefix + "_tls_enforce_peername"] == "yes" else "encrypt"
    return "may" if values[prefix + "_use_tls"] == "yes" else "none"


def obsolete_left(config_dir):
    settle(config_dir / "main.cf")
    lines = postconf("-c", str(config_dir), "-n").stdout.splitlines()
    lines += postconf("-c", str(config_dir), "-P").stdout.splitlines()
    return [line for line in lines if "_use_tls" in line or "_enforce_tls" in line or "enforce_peername" in line]


def migrate(localhost, config_dir, **args):
    return run_module(localhost, "mailtls.postfix.tls_migrate", config_dir=str(config_dir), **args)


def test_reference_to_another_parameter_keeps_receiving_tls(localhost, tmp_path):
    config_dir = configured(tmp_path, "enable_tls = yes\nsmtpd_use_tls = $enable_tls\n")
    before = tls_levels(config_dir)
    assert before["global smtpd"] == "may" and before["smtp/inet"] == "may"
    result = migrate(localhost, config_dir)
    assert result["changed"] is True, result
    assert result["changes"] == {"smtpd_use_tls": {"before": "$enable_tls", "after": None},
                                 "smtpd_tls_security_level": {"before": None, "after": "may"}}
    assert (config_dir / "main.cf").read_text() == "enable_tls = yes\nsmtpd_tls_security_level = may\n"
    assert tls_levels(config_dir) == before
    assert result["tls_levels"]["main.cf"]["smtpd"] == "may"


def test_enforce_override_in_submission_stays_encrypt(localhost, tmp_path):
    config_dir = configured(tmp_path, "smtpd_use_tls = yes\n", SUBMISSION)
    before = tls_levels(config_dir)
    assert before["submission/inet"] == "encrypt" and before["global smtpd"] == "may"
    result = migrate(localhost, config_dir)
    assert result["changed"] is True, result
    assert postconf("-c", str(config_dir), "-M", "submission/inet").stdout.split() == [
        "submission", "inet", "n", "-", "y", "-", "-", "smtpd", "-o", "syslog_name=postfix/submission",
        "-o", "smtpd_sasl_auth_enable=yes", "-o", "smtpd_tls_security_level=encrypt"]
    assert result["master_cf_changes"] == {"submission/inet": {
        "before": "submission inet  n       -       y       -       -       smtpd\n"
                  "  -o syslog_name=postfix/submission\n  -o smtpd_enforce_tls=yes\n  -o smtpd_sasl_auth_enable=yes\n",
        "after": "submission inet  n       -       y       -       -       smtpd\n"
                 "  -o syslog_name=postfix/submission\n  -o smtpd_sasl_auth_enable=yes\n"
                 "  -o smtpd_tls_security_level=encrypt\n"}}
    assert "submission/inet: removed -o smtpd_enforce_tls=yes and added -o smtpd_tls_security_level=encrypt; " \
           "its TLS level stays smtpd encrypt" in result["notes"]
    assert tls_levels(config_dir) == before
    assert obsolete_left(config_dir) == []
    before_files = snapshot(config_dir)
    again = migrate(localhost, config_dir)
    assert again["changed"] is False and again["changes"] == {} and again["master_cf_changes"] == {}
    assert snapshot(config_dir) == before_files


def test_check_mode_diff_covers_both_files_then_apply_is_idempotent(tmp_path):
    config_dir = configured(tmp_path, "# receiving\nsmtpd_use_tls = yes\n", SUBMISSION)
    task = {"name": "migrate", "mailtls.postfix.tls_migrate": {"config_dir": str(config_dir)}}
    before_files = snapshot(config_dir)
    rc, results, output = run_playbook(tmp_path, [task], check=True, diff=True)
    assert rc == 0, output
    assert snapshot(config_dir) == before_files
    diff = results["migrate"]["diff"]
    assert [entry["before_header"] for entry in diff] == [str(config_dir / "master.cf"), str(config_dir / "main.cf")]
    assert diff[1]["after"] == "# receiving\nsmtpd_tls_security_level = may\n"
    assert "  -o smtpd_tls_security_level=encrypt\n" in diff[0]["after"]
    assert "smtpd_enforce_tls" not in diff[0]["after"] and "smtpd_enforce_tls" in diff[0]["before"]
    assert results["migrate"]["changed"] is True
    rc, results, output = run_playbook(tmp_path, [task, dict(task, name="again")], diff=True)
    assert rc == 0 and results["migrate"]["changed"] is True and results["again"]["changed"] is False, output
    assert "diff" not in results["again"] or results["again"]["diff"] in ([], {})
    settle(config_dir / "main.cf")
    after_files = snapshot(config_dir)
    rc, results, output = run_playbook(tmp_path, [task], check=True, diff=True)
    assert rc == 0 and results["migrate"]["changed"] is False, output
    assert snapshot(config_dir) == after_files


def test_master_cf_is_written_first_and_the_state_between_keeps_every_level(localhost, tmp_path):
    config_dir = configured(tmp_path, "smtpd_use_tls = yes\n", SUBMISSION)
    before = tls_levels(config_dir)
    main_cf = (config_dir / "main.cf").read_bytes()
    (config_dir / "main.cf.tmp").mkdir()  # main.cf's edit cannot take its lock: it fails after master.cf's
    result = migrate(localhost, config_dir)
    assert result.get("failed") is True and "main.cf.tmp" in result["msg"], result
    assert (config_dir / "main.cf").read_bytes() == main_cf
    assert "-o smtpd_tls_security_level=encrypt" in (config_dir / "master.cf").read_text()
    assert tls_levels(config_dir) == before
    (config_dir / "main.cf.tmp").rmdir()
    result = migrate(localhost, config_dir)
    assert result["changed"] is True and result["master_cf_changes"] == {}, result
    assert tls_levels(config_dir) == before and obsolete_left(config_dir) == []


SCENARIOS = {
    "server overrides": (
        "smtpd_use_tls = yes\nsmtpd_enforce_tls = no\n",
        SUBMISSION + "127.0.0.1:10025 inet n - n - - smtpd\n  -o smtpd_tls_security_level=\n"
        "relay2 unix - - y - - smtp -o smtp_use_tls=no\n"),
    "client switches": (
        "smtp_enforce_tls = yes\nsmtp_tls_enforce_peername = no\nlmtp_use_tls = yes\n",
        "relay3 unix - - y - - smtp\n  -o smtp_tls_enforce_peername=yes\n"
        "lmtp2 unix - - y - - lmtp -o lmtp_enforce_tls=yes\n"),
    "enforced, with opt-outs": (
        "smtpd_enforce_tls = yes\n",
        "2525 inet n - y - - smtpd -o smtpd_enforce_tls=no -o smtpd_use_tls=yes\n"
        "submissions inet n - y - - smtpd -o smtpd_tls_wrappermode=yes -o smtpd_use_tls=no\n"),
    "level already set": (
        "smtpd_tls_security_level = may\nsmtpd_use_tls = no\n", SUBMISSION),
    "expanded in master.cf": (
        "enable_tls = yes\nno_tls = no\n",
        "2526 inet n - y - - smtpd -o smtpd_enforce_tls=$enable_tls\n"
        "relay4 unix - - y - - smtp -o smtp_use_tls=${enable_tls} -o smtp_enforce_tls=$no_tls\n"),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_service_keeps_its_level(localhost, tmp_path, scenario):
    main_cf, extra = SCENARIOS[scenario]
    config_dir = configured(tmp_path, main_cf, extra)
    before = tls_levels(config_dir)
    result = migrate(localhost, config_dir)
    assert result["changed"] is True, result
    assert tls_levels(config_dir) == before, result
    assert obsolete_left(config_dir) == []
    before_files = snapshot(config_dir)
    assert migrate(localhost, config_dir)["changed"] is False
    assert snapshot(config_dir) == before_files


@pytest.mark.parametrize("main_cf, extra, message", [
    ("smtpd_use_tls = yes\n", "2527 inet n - y - - smtpd -o { smtpd_enforce_tls = yes }\n",
     "master.cf: 2527/inet sets smtpd_enforce_tls in a form this module does not edit"),
    ("smtpd_use_tls = yes\nsmtpd_tls_auth_only = $smtpd_use_tls\n", "",
     "main.cf: smtpd_tls_auth_only refers to $smtpd_use_tls"),
    ("smtpd_use_tls = maybe\n", "", "smtpd_use_tls = 'maybe' is neither yes nor no"),
])
def test_what_cannot_be_migrated_safely_changes_nothing(localhost, tmp_path, main_cf, extra, message):
    config_dir = configured(tmp_path, main_cf, extra)
    before_files = snapshot(config_dir)
    result = migrate(localhost, config_dir)
    assert result.get("failed") is True and message in result["msg"], result
    assert snapshot(config_dir) == before_files
