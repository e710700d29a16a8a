"""postfix_info and tls_migrate against the real Postfix."""

from __future__ import annotations

from conftest import effective_config, make_config_dir, postmap
from helpers import run_module, run_playbook, snapshot

SEED_MAIN_CF = """\
# The how-to's receiving side, as users typed it
smtpd_use_tls = yes
smtpd_tls_cert_file = /etc/ssl/certs/ssl-cert-snakeoil.pem
smtpd_tls_key_file = /etc/ssl/private/ssl-cert-snakeoil.key
smtpd_tls_session_cache_timeout = 3600s
smtp_use_tls=yes
smtp_enforce_tls = yes
smtp_tls_enforce_peername = no
smtpd_tls_cipherlist = HIGH
smtp_tls_policy_maps = hash:{dir}/tls_policy, texthash:{dir}/missing
"""


def test_postfix_info_reports_version_tables_and_obsolete(localhost, tmp_path):
    config_dir = make_config_dir(tmp_path / "pf", SEED_MAIN_CF.format(dir=tmp_path / "pf"))
    (config_dir / "tls_policy").write_text("a.example encrypt\nA.example may\nb.example encrypt\n")
    postmap("hash:%s" % (config_dir / "tls_policy"))
    before = snapshot(config_dir)
    info = run_module(localhost, "mailtls.postfix.postfix_info", config_dir=str(config_dir))
    assert info["changed"] is False and snapshot(config_dir) == before
    assert info["version"].startswith("3.") and info["version_info"][0] == 3
    assert {"hash", "btree", "lmdb", "cdb", "texthash"} <= set(info["map_types"])
    assert info["default_database_type"] == "hash"
    assert info["tls"]["smtp_tls_security_level"] == ""
    assert info["tls_explicit"]["smtpd_tls_session_cache_timeout"] == "3600s"
    tables = info["policy_tables"]["smtp_tls_policy_maps"]
    assert tables[0] == {"table": "hash:%s/tls_policy" % config_dir, "file": True, "type": "hash",
                         "path": "%s/tls_policy" % config_dir, "exists": True, "entries": 2, "index_fresh": True,
                         "forced": [{"destination": "a.example", "level": "encrypt"},
                                    {"destination": "b.example", "level": "encrypt"}]}
    assert info["forced_destinations"] == tables[0]["forced"]
    assert tables[1]["exists"] is False
    assert [item["name"] for item in info["obsolete"]] == [
        "smtp_enforce_tls", "smtp_tls_enforce_peername", "smtp_use_tls", "smtpd_tls_cipherlist", "smtpd_use_tls"]


def test_tls_migrate_check_diff_then_apply(tmp_path):
    config_dir = make_config_dir(tmp_path / "pf", SEED_MAIN_CF.format(dir=tmp_path / "pf"))
    task = {"name": "migrate", "mailtls.postfix.tls_migrate": {"config_dir": str(config_dir)}}
    before = snapshot(config_dir)
    rc, results, output = run_playbook(tmp_path, [task], check=True, diff=True)
    assert rc == 0, output
    assert snapshot(config_dir) == before
    assert "-smtpd_use_tls = yes" in output and "+smtpd_tls_security_level = encrypt" not in output
    assert results["migrate"]["changes"]["smtpd_tls_security_level"] == {"before": None, "after": "may"}
    assert results["migrate"]["changes"]["smtp_tls_security_level"] == {"before": None, "after": "encrypt"}
    rc, results, output = run_playbook(tmp_path, [task])
    assert rc == 0 and results["migrate"]["changed"] is True, output
    assert any("smtp_tls_per_site" in note or "cipherlist" in note for note in results["migrate"]["notes"])
    lines = effective_config(config_dir)[0]
    assert "smtpd_tls_security_level = may" in lines and "smtp_tls_security_level = encrypt" in lines
    assert not any(line.startswith(("smtpd_use_tls", "smtp_use_tls", "smtp_enforce_tls", "smtpd_tls_cipherlist"))
                   for line in lines)
    assert (config_dir / "main.cf").read_text().startswith("# The how-to's receiving side, as users typed it\n")
    rc, results, output = run_playbook(tmp_path, [task])
    assert rc == 0 and results["migrate"]["changed"] is False
