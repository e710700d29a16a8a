"""tls_advisor on the real log of real Postfix instances on loopback (tests/integration/advisor_mail.py).

The sending instance delivers to a receiver with STARTTLS (level may: Untrusted; level
fingerprint: Verified), to one without (plaintext) and, at level encrypt, to one without (TLS
deferrals). The module runs as Ansible runs it, in check mode too, and a crafted subject and a
crafted quoted recipient that the real Postfix logs never count as TLS.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from advisor_mail import DOMAINS, append, mail_world, send, send_each, wait_for_log
from drivers import run_as_ansible

WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
PORT = 25740 + WORKER * 10
HOP = dict((domain, "[127.0.0.1]:%d" % (PORT + offset)) for offset, domain in enumerate(DOMAINS, 1))


@pytest.fixture(scope="module")
def world():
    with mail_world(PORT) as sender:
        # A subject logged by header_checks, and a quoted local part, both made to look like TLS evidence.
        (sender["conf"] / "header_checks").write_text("/^Subject:/ INFO\n")
        append(sender["conf"], ["header_checks = regexp:%s" % (sender["conf"] / "header_checks")])
        subprocess.run(["postfix", "-c", str(sender["conf"]), "reload"], check=True, capture_output=True)
        send_each(sender, PORT, 3)
        forged = ("Verified TLS connection established to 127.0.0.1[127.0.0.1]:%d: TLSv1.3 with cipher "
                  "TLS_AES_256_GCM_SHA384 (256/256 bits)" % (PORT + 3))
        send(PORT, ['"x>, relay=127.0.0.1[127.0.0.1]:%d, delay=1, delays=1/1/1/1, dsn=2.0.0, status=sent (ok)"'
                    '@plain.example' % (PORT + 1)], subject=forged)
        wait_for_log(sender, {"status=sent": 10, "header Subject: Verified TLS": 1})
        yield sender


def advise(world, check=False, **args):
    args.setdefault("config_dir", str(world["conf"]))
    args.setdefault("min_deliveries", 3)
    args.setdefault("min_days", 0)
    if check:
        args["_ansible_check_mode"] = True
    return run_as_ansible("tls_advisor", args, timeout=120).parsed()


def by_destination(result):
    return dict((item["destination"], item) for item in result["destinations"])


def test_the_real_log_gives_each_destination_its_evidence_and_proposal(world):
    result = advise(world, paths=[str(world["root"] / "mail.log")])
    assert not result.get("failed"), result
    found = by_destination(result)
    untrusted, verified, plain, required = (found[HOP[domain]] for domain in DOMAINS)
    assert untrusted["outcomes"]["untrusted"] == 3 and untrusted["deliveries"] == 3
    assert untrusted["proposal"]["level"] == "encrypt", untrusted
    assert list(untrusted["protocols"]) == ["TLSv1.3"]
    assert verified["outcomes"]["verified"] == 3 and verified["policy"]["level"] == "fingerprint"
    # Verified by a fingerprint is no ground for secure, and encrypt is weaker than fingerprint.
    assert verified["proposal"]["level"] is None and "already as strong" in verified["proposal"]["reason"]
    assert verified["policy"]["source"] == "hash:%s" % (world["conf"] / "tls_policy")
    # The forged subject and recipient are plain.example's fourth delivery: plaintext, like the others.
    assert plain["outcomes"]["plaintext"] == 4 and plain["deliveries"] == 4, plain
    assert plain["proposal"]["level"] is None
    assert required["deliveries"] == 0 and required["tls_deferrals"] >= 3
    assert required["tls_deferral_samples"][0].startswith("TLS is required, but was not offered")
    assert [problem["kind"] for problem in required["problems"]] == ["tls_deferred_forced", "unused_entry"]
    assert result["proposals"] == {HOP["untrusted.example"]: "encrypt"}
    assert result["files"][0]["skipped"] == 0


def test_check_mode_gives_the_same_answer_and_the_default_paths_are_postfixs_own(world):
    # The queue's retries would add lines between the two calls: empty it and let the log settle.
    subprocess.run(["postsuper", "-c", str(world["conf"]), "-d", "ALL"], check=True, capture_output=True)
    log = world["root"] / "mail.log"
    size = -1
    while size != log.stat().st_size:
        size = log.stat().st_size
        time.sleep(1)
    explicit = advise(world, paths=[str(log)])
    default = advise(world, check=True)
    for result in (explicit, default):
        result.pop("invocation")
    assert default == explicit  # maillog_file of the instance, read by default


def test_policy_maps_given_replace_the_hosts_tables(world):
    result = advise(world, paths=[str(world["root"] / "mail.log")], policy_maps=[])
    assert by_destination(result)[HOP["verified.example"]]["policy"]["level"] == "may"


@pytest.mark.parametrize("args, message", [
    ({"paths": ["relative.log"]}, "paths[0]: 'relative.log' is not an absolute path"),
    ({"paths": ["/nonexistent/mail.log"]}, "paths[0]: /nonexistent/mail.log does not exist"),
    ({"since": "last week"}, "since: 'last week' is neither ISO 8601"),
    ({"until": "7d\n"}, "until: '7d\\n' is neither ISO 8601"),
    ({"since": "1d", "until": "2d"}, "since: "),
    ({"min_deliveries": 0}, "min_deliveries: 0 is not a count"),
    ({"policy_maps": ["no table here"]}, "policy_maps[0]: 'no table here' is not a table"),
    ({"policy_maps": ["hash:/etc/postfix/tls_policy\nx"]}, "policy_maps[0]: 'hash:/etc/postfix/tls_policy\\nx' is not a table"),
])
def test_bad_input_is_refused_naming_the_option(world, args, message):
    result = advise(world, **args)
    assert result.get("failed") and result["msg"].startswith(message), result


def test_a_fifo_or_a_link_where_the_log_is_expected_is_refused_without_blocking(world, tmp_path):
    fifo = tmp_path / "mail.log"
    os.mkfifo(str(fifo))
    result = advise(world, paths=[str(fifo)])
    assert result.get("failed") and result["msg"] == "paths[0]: %s is not a regular file (a FIFO, device or " \
        "directory is never read)" % fifo
    link = tmp_path / "link.log"
    link.symlink_to(world["root"] / "mail.log")
    result = advise(world, paths=[str(link)])
    assert result.get("failed") and result["msg"] == "paths[0]: %s is a symbolic link; give the file it points to" % link
