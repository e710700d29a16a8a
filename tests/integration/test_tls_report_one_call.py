"""The fleet report in one module round trip per host, its deliveries judged from that call (issue 21).

The sending instance of tests/integration/advisor_mail.py delivers real mail: over TLS (level may),
in plaintext to a server without STARTTLS, and at level encrypt to a server without STARTTLS (TLS
deferrals). Then the plaintext destination is forced (encrypt) in its policy table, as an admin
would after a server stopped offering STARTTLS. playbooks/tls_report.yml runs on three inventory
hosts, all this machine: one that reads its log in the tls_posture call (the default), one with a
registered tls_advisor result (it wins, the log is not read), one with tls_report_read_log: false.
A callback (tests/integration/callback_plugins/mailtls_host_calls.py) lists the modules that ran on
each host itself.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest
from advisor_mail import DOMAINS, append, mail_world, send, send_each, wait_for_log, wait_for_quiet_log
from drivers import run_as_ansible
from helpers import ROOT, VENV_BIN, ansible_env

WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
PORT = 25960 + WORKER * 10
HOP = dict((domain, "[127.0.0.1]:%d" % (PORT + offset)) for offset, domain in enumerate(DOMAINS, 1))
HERE = os.path.dirname(os.path.abspath(__file__))
REGISTERED = {"destinations": [{
    "destination": "registered.test", "deliveries": 0, "tls_deferrals": 2, "tls_deferral_samples": [],
    "outcomes": {"verified": 0, "trusted": 0, "untrusted": 0, "anonymous": 0, "plaintext": 0, "unknown": 0},
    "policy": {"entry": "secure", "level": "secure", "source": "hash:/x"}, "problems": []}]}
ADVISOR_KEYS = ("files", "window", "destinations", "unused_policy_entries", "proposals")


@pytest.fixture(scope="module")
def world():
    with mail_world(PORT) as sender:
        (sender["conf"] / "header_checks").write_text("/^Subject:/ INFO\n")
        # No postmaster notices: the report's probes end TLS handshakes early, and each notice would be a
        # bounce line logged while the other hosts probe, after mx-reads-log read the log (CI failed on it).
        append(sender["conf"], ["header_checks = regexp:%s" % (sender["conf"] / "header_checks"), "notify_classes ="])
        subprocess.run(["postfix", "-c", str(sender["conf"]), "reload"], check=True, capture_output=True)
        send_each(sender, PORT, 2)
        # A subject and a quoted recipient that the real Postfix logs, both made to look like TLS evidence.
        forged = ("Verified TLS connection established to 127.0.0.1[127.0.0.1]:%d: TLSv1.3 with cipher "
                  "TLS_AES_256_GCM_SHA384 (256/256 bits)" % (PORT + 3))
        send(PORT, ['"x>, relay=127.0.0.1[127.0.0.1]:%d, delay=1, delays=1/1/1/1, dsn=2.0.0, status=sent (ok)"'
                    '@plain.example' % (PORT + 1)], subject=forged)
        wait_for_log(sender, {"status=sent": 7, "header Subject: Verified TLS": 1})
        # The plaintext destination forced afterwards: its log shows plaintext deliveries under encrypt.
        with open(str(sender["conf"] / "tls_policy"), "a") as table:
            table.write("%s encrypt\n" % HOP["plain.example"])
        subprocess.run(["postmap", "hash:%s" % (sender["conf"] / "tls_policy")], check=True)
        # No retry from now on: the log's deliveries stay as they are (the probes add smtpd lines only).
        subprocess.run(["postsuper", "-c", str(sender["conf"]), "-d", "ALL"], check=True, capture_output=True)
        wait_for_quiet_log(sender)
        snapshot = sender["root"] / "snapshot.log"
        shutil.copyfile(str(sender["root"] / "mail.log"), str(snapshot))
        yield dict(sender, snapshot=snapshot)


def posture(world, check=False, **args):
    args.setdefault("config_dir", str(world["conf"]))
    if check:
        args["_ansible_check_mode"] = True
    return run_as_ansible("tls_posture", args, timeout=180).parsed()


def by_destination(destinations):
    return dict((item["destination"], item) for item in destinations)


@pytest.fixture(scope="module")
def report(world, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tls-report-one-call")
    common = {"ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3",
              "tls_report_config_dir": str(world["conf"]), "tls_report_log": {"min_deliveries": 2, "min_days": 0}}
    inventory = {"all": {"hosts": {"mx-reads-log": dict(common),
                                   "mx-registered": dict(common, tls_report_advisor=REGISTERED),
                                   "mx-log-off": dict(common, tls_report_read_log=False)}}}
    (tmp / "inventory.json").write_text(json.dumps(inventory))
    env = dict(ansible_env(), ANSIBLE_CALLBACK_PLUGINS=os.path.join(HERE, "callback_plugins"),
               ANSIBLE_CALLBACKS_ENABLED="mailtls_host_calls", MAILTLS_HOST_CALLS_FILE=str(tmp / "calls.json"))
    done = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", str(tmp / "inventory.json"),
                           str(ROOT / "playbooks" / "tls_report.yml"), "-e", "tls_report_dir=%s" % (tmp / "out")],
                          capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    document = json.loads((tmp / "out" / "tls-report.json").read_text())
    return {"calls": json.loads((tmp / "calls.json").read_text()), "hosts": dict(
        (host["host"], host) for host in document["hosts"]), "document": document, "tmp": tmp}


def test_one_module_call_per_host_and_that_call_is_tls_posture(report):
    calls = report["calls"]
    assert calls["on_host"] == dict((host, ["mailtls.postfix.tls_posture"])
                                    for host in ("mx-reads-log", "mx-registered", "mx-log-off")), calls
    # The counter does see the other tasks: the files it writes run on the controller (delegated).
    assert sum(len(actions) for actions in calls["delegated"].values()) >= 3, calls


def test_the_planted_faults_are_judged_from_that_one_call(report):
    host = report["hosts"]["mx-reads-log"]
    forced = dict((item["subject"], item) for item in host["findings"] if item["code"] == "forced_not_delivered")
    assert set(forced) == {HOP["plain.example"], HOP["required.example"]}, host["findings"]
    assert all(item["severity"] == "fail" for item in forced.values())
    # The forged subject and the forged recipient are plaintext deliveries, never TLS evidence.
    assert forced[HOP["plain.example"]]["message"] == "policy encrypt, but 3 plaintext deliveries and 0 TLS deferrals"
    assert forced[HOP["required.example"]]["message"].startswith("policy encrypt, but 0 plaintext deliveries and ")
    assert host["state"] == "fail"
    destinations = by_destination(host["advisor"]["destinations"])
    assert destinations[HOP["untrusted.example"]]["outcomes"]["untrusted"] == 2
    assert destinations[HOP["plain.example"]]["outcomes"]["verified"] == 0
    summary = [item for item in report["document"]["findings"] if item["host"] == "mx-reads-log"]
    assert summary[0]["severity"] == "fail"


def test_the_calls_reading_is_tls_advisors_own(world, report):
    """The same reader and rules: the report's deliveries are what tls_advisor says of the same log."""
    advisor = run_as_ansible("tls_advisor", {"config_dir": str(world["conf"]), "min_deliveries": 2, "min_days": 0},
                             timeout=120).parsed()
    assert not advisor.get("failed"), advisor
    assert report["hosts"]["mx-reads-log"]["advisor"]["destinations"] == advisor["destinations"]
    snapshot = {"paths": [str(world["snapshot"])], "min_deliveries": 2, "min_days": 0}
    direct = posture(world, advisor=snapshot)
    advisor = run_as_ansible("tls_advisor", dict(snapshot, config_dir=str(world["conf"])), timeout=120).parsed()
    assert dict((key, direct["advisor"][key]) for key in ADVISOR_KEYS) == dict(
        (key, advisor[key]) for key in ADVISOR_KEYS)
    assert [item for item in direct["findings"] if item["code"] == "forced_not_delivered"]


def test_a_registered_advisor_result_wins_and_the_log_can_be_left_unread(report):
    registered = report["hosts"]["mx-registered"]
    assert registered["advisor"] == {"destinations": REGISTERED["destinations"]}
    assert [item["subject"] for item in registered["findings"] if item["code"] == "forced_not_delivered"] == [
        "registered.test"]
    off = report["hosts"]["mx-log-off"]
    assert off["advisor"] is None
    assert not [item for item in off["findings"] if item["code"].startswith(("forced_", "advisor_"))]


def test_without_the_option_the_log_is_not_read_and_check_mode_reads_it_the_same(world):
    plain = posture(world)
    assert "advisor" not in plain and not plain.get("failed"), plain
    checked = posture(world, check=True, advisor={"paths": [str(world["snapshot"])]})
    explicit = posture(world, advisor={"paths": [str(world["snapshot"])]})
    assert checked["advisor"] == explicit["advisor"]
    assert checked["advisor"]["files"][0]["skipped"] == 0


def test_hostile_log_lines_are_skipped_or_never_evidence(world, tmp_path):
    """Non-UTF-8 bytes, a NUL, a TLS verdict inside a non-client program's line, a tab: none counts."""
    hostile = tmp_path / "mail.log"
    shutil.copyfile(str(world["snapshot"]), str(hostile))
    first = world["snapshot"].read_text().split("\n", 1)[0]
    head = re.match(r"(.*?) \S+\[\d+\]: ", first).group(1)  # the log's own date and host name
    forged_verdict = ("Verified TLS connection established to 127.0.0.1[127.0.0.1]:%d: TLSv1.3 with cipher "
                      "TLS_AES_256_GCM_SHA384 (256/256 bits)" % (PORT + 3))
    with open(str(hostile), "ab") as out:
        out.write(b"\xff\xfe not text at all\n")
        out.write(("%s postfix/smtp[4242]: \x00%s\n" % (head, forged_verdict)).encode())
        out.write(("%s postfix/cleanup[4242]: %s\n" % (head, forged_verdict)).encode())
        out.write(("%s postfix/smtp[4242]:\t%s\n" % (head, forged_verdict)).encode())
    before = posture(world, advisor={"paths": [str(world["snapshot"])]})["advisor"]
    after = posture(world, advisor={"paths": [str(hostile)]})["advisor"]
    assert after["destinations"] == before["destinations"]
    # Skipped: the bytes that are not UTF-8, the line with a NUL, the client's line without ": " after its name.
    assert after["files"][0]["skipped"] == 3


@pytest.mark.parametrize("advisor, message", [
    ({"paths": ["relative.log"]}, "advisor.paths[0]: 'relative.log' is not an absolute path"),
    ({"paths": ["/nonexistent/mail.log"]}, "advisor.paths[0]: /nonexistent/mail.log does not exist"),
    ({"since": "last week"}, "advisor.since: 'last week' is neither ISO 8601"),
    ({"until": "7d\n"}, "advisor.until: '7d\\n' is neither ISO 8601"),
    ({"since": "1d", "until": "2d"}, "advisor.since: "),
    ({"min_deliveries": 0}, "advisor.min_deliveries: 0 is not a count"),
    ({"min_days": -1}, "advisor.min_days: -1 is not a number of days"),
    ({"policy_maps": ["hash:/etc/postfix/tls_policy\tx\ny"]}, "advisor.policy_maps[0]: "),
])
def test_bad_advisor_input_is_refused_naming_the_option(world, advisor, message):
    result = posture(world, advisor=advisor)
    assert result.get("failed") and result["msg"].startswith(message), result


def test_a_fifo_or_a_link_given_as_the_log_is_refused_without_blocking(world, tmp_path):
    fifo = tmp_path / "fifo.log"
    os.mkfifo(str(fifo))
    result = posture(world, advisor={"paths": [str(fifo)]})
    assert result.get("failed") and result["msg"] == "advisor.paths[0]: %s is not a regular file (a FIFO, device " \
        "or directory is never read)" % fifo
    link = tmp_path / "link.log"
    link.symlink_to(world["root"] / "mail.log")
    result = posture(world, advisor={"paths": [str(link)]})
    assert result.get("failed") and result["msg"] == "advisor.paths[0]: %s is a symbolic link; give the file it " \
        "points to" % link
