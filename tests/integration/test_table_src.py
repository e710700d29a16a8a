"""Tables from a file (issue 20): lookup_table and tls_policy with ``src``, end to end through
ansible-playbook and the action plug-ins, against the real postmap.

Every guarantee of ``entries`` holds for ``src``: per-entry diff, exclusive, secret, the read-back, a no-op
re-run; bad input names the option and changes nothing; the temporary sent to the host goes, also on failure.
"""

from __future__ import annotations

import os
import stat

import pytest
from conftest import dump_table
from helpers import run_playbook, snapshot

LOOKUP = "mailtls.postfix.lookup_table"
POLICY = "mailtls.postfix.tls_policy"


@pytest.fixture
def remote_tmp(tmp_path):
    """Ansible's temporary directory on the "host", of this test only: what is left there is seen."""
    path = tmp_path / "remote-tmp"
    path.mkdir()
    return path


def play(tmp_path, remote_tmp, tasks, **kwargs):
    extra = ("-e", "ansible_remote_tmp=%s" % remote_tmp) + tuple(kwargs.pop("extra_args", ()))
    return run_playbook(tmp_path, tasks, extra_args=extra, **kwargs)


def left_in(remote_tmp):
    return [str(path) for path in remote_tmp.rglob("*")]


def lookup_task(config_dir, src, name="t", **args):
    return {"name": name, LOOKUP: dict(path=str(config_dir / "access"), config_dir=str(config_dir), src=str(src),
                                       **args)}


def test_src_fills_the_table_then_a_rerun_writes_nothing(tmp_path, remote_tmp, config_dir):
    src = tmp_path / "access.src"
    src.write_text("# partners\nA.example OK\nb.example REJECT\n")
    rc, results, output = play(tmp_path, remote_tmp, [lookup_task(config_dir, src)])
    result = results["t"]
    assert rc == 0 and result["changed"] is True and result["postmap_run"] is True, output
    assert result["added"] == ["A.example", "b.example"] and result["added_count"] == 2
    assert dump_table("hash:%s" % (config_dir / "access")) == ["a.example\tOK", "b.example\tREJECT"]
    assert left_in(remote_tmp) == []
    before = snapshot(config_dir)
    rc, results, output = play(tmp_path, remote_tmp, [lookup_task(config_dir, src)])
    assert rc == 0 and results["t"]["changed"] is False and results["t"]["postmap_run"] is False, output
    assert snapshot(config_dir) == before, "a no-op run writes nothing and runs no postmap"
    assert left_in(remote_tmp) == []


def test_check_mode_and_diff_predict_the_run_exactly(tmp_path, remote_tmp, config_dir):
    table = config_dir / "access"
    table.write_text("# kept\nold.example REJECT\nsame.example OK\n")
    src = tmp_path / "access.src"
    src.write_text("same.example OK\nnew.example OK\nold.example DISCARD\n")
    before = snapshot(config_dir)
    task = lookup_task(config_dir, src, exclusive=True)
    rc, check, output = play(tmp_path, remote_tmp, [task], check=True, diff=True)
    assert rc == 0 and check["t"]["changed"] is True, output
    assert "+new.example OK" in output and "-old.example REJECT" in output and "+old.example DISCARD" in output
    assert snapshot(config_dir) == before
    rc, real, output = play(tmp_path, remote_tmp, [task], diff=True)
    assert rc == 0, output
    for name in ("added", "updated", "removed", "added_count", "updated_count", "removed_count", "postmap_run"):
        assert check["t"][name] == real["t"][name], name
    assert table.read_text() == "# kept\nold.example DISCARD\nsame.example OK\nnew.example OK\n"
    rc, again, output = play(tmp_path, remote_tmp, [task], check=True)
    assert rc == 0 and again["t"]["changed"] is False, output


def test_exclusive_src_is_the_whole_table(tmp_path, remote_tmp, config_dir):
    (config_dir / "access").write_text("a.example OK\nb.example OK\n")
    src = tmp_path / "access.src"
    src.write_text("b.example OK\nc.example OK\n")
    rc, results, output = play(tmp_path, remote_tmp, [lookup_task(config_dir, src, exclusive=True)])
    assert rc == 0 and results["t"]["removed"] == ["a.example"] and results["t"]["added"] == ["c.example"], output
    assert dump_table("hash:%s" % (config_dir / "access")) == ["b.example\tOK", "c.example\tOK"]


def test_a_secret_src_never_shows_a_value_not_even_with_vvv(tmp_path, remote_tmp, config_dir):
    src = tmp_path / "sasl_passwd"
    src.write_text("[smtp.example.net]:587 user@example.net:S3cr3t-Pa55\n")
    task = lookup_task(config_dir, src, secret=True)
    task[LOOKUP]["path"] = str(config_dir / "sasl_passwd")
    rc, results, output = play(tmp_path, remote_tmp, [task], diff=True, extra_args=("-vvv",))
    assert rc == 0 and results["t"]["changed"] is True, output
    assert "S3cr3t" not in output and "S3cr3t" not in str(results)
    assert stat.S_IMODE(os.stat(config_dir / "sasl_passwd").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(str(config_dir / "sasl_passwd") + ".db").st_mode) == 0o600
    # A value that changes: still not shown, in the diff neither.
    src.write_text("[smtp.example.net]:587 user@example.net:N3w-Pa55\n")
    rc, results, output = play(tmp_path, remote_tmp, [task], diff=True, extra_args=("-vvv",))
    assert rc == 0 and results["t"]["updated"] == ["[smtp.example.net]:587"], output
    assert "N3w" not in output and "S3cr3t" not in output and "N3w" not in str(results)
    assert left_in(remote_tmp) == []


def test_the_sent_copy_is_private_from_its_first_byte(tmp_path):
    from ansible_collections.mailtls.postfix.plugins.plugin_utils.table_src import private_copy

    src = tmp_path / "world-readable"
    src.write_text("a OK\n")
    src.chmod(0o644)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    old = os.umask(0)
    try:
        copy = private_copy(str(src), str(scratch))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(copy).st_mode) == 0o600 and open(copy).read() == "a OK\n"


def refused(tmp_path, remote_tmp, config_dir, task, said):
    before = snapshot(config_dir)
    rc, results, output = play(tmp_path, remote_tmp, [task])
    assert rc != 0 and results["t"].get("failed") is True, output
    assert said in results["t"]["msg"], results["t"]["msg"]
    assert snapshot(config_dir) == before, "a refusal changes nothing on disk"
    assert left_in(remote_tmp) == [], "the temporary goes, also on failure"
    return results["t"]["msg"]


@pytest.mark.parametrize("content, said", [
    (b"a.example OK\nb.example\n", "src: line 2: key 'b.example' has no value"),
    (b"a.example OK\nb.example \xfcber\n", "src: line 2 of "),
    (b"a.example OK\na.EXAMPLE REJECT\n", "src: line 2: key 'a.EXAMPLE' is given again"),
    (b" a.example OK\n", "src: line 1 starts with whitespace"),
])
def test_bad_lines_are_refused_naming_src_and_the_line(tmp_path, remote_tmp, config_dir, content, said):
    (config_dir / "access").write_text("kept.example OK\n")
    src = tmp_path / "access.src"
    src.write_bytes(content)
    refused(tmp_path, remote_tmp, config_dir, lookup_task(config_dir, src), said)


def test_missing_directory_and_fifo_on_the_controller_are_refused(tmp_path, remote_tmp, config_dir):
    refused(tmp_path, remote_tmp, config_dir, lookup_task(config_dir, tmp_path / "missing"), "src: ")
    refused(tmp_path, remote_tmp, config_dir, lookup_task(config_dir, tmp_path), "is a directory")
    fifo = tmp_path / "fifo"
    os.mkfifo(str(fifo))
    refused(tmp_path, remote_tmp, config_dir, lookup_task(config_dir, fifo), "is not a regular file")


def test_remote_src_refuses_a_symlink_a_fifo_and_a_directory(tmp_path, remote_tmp, config_dir):
    real = tmp_path / "real.src"
    real.write_text("a.example OK\n")
    link = tmp_path / "link.src"
    link.symlink_to(real)
    refused(tmp_path, remote_tmp, config_dir, lookup_task(config_dir, link, remote_src=True), "is a symbolic link")
    fifo = tmp_path / "fifo"
    os.mkfifo(str(fifo))
    refused(tmp_path, remote_tmp, config_dir, lookup_task(config_dir, fifo, remote_src=True),
            "is not a regular file")
    refused(tmp_path, remote_tmp, config_dir, lookup_task(config_dir, tmp_path, remote_src=True), "is a directory")
    rc, results, output = play(tmp_path, remote_tmp, [lookup_task(config_dir, real, remote_src=True)])
    assert rc == 0 and results["t"]["added"] == ["a.example"], output
    assert real.read_text() == "a.example OK\n", "a file of the host is never removed"


def test_src_with_entries_or_absent_is_refused(tmp_path, remote_tmp, config_dir):
    src = tmp_path / "access.src"
    src.write_text("a.example OK\n")
    refused(tmp_path, remote_tmp, config_dir, lookup_task(config_dir, src, entries={"b.example": "OK"}), "src")
    refused(tmp_path, remote_tmp, config_dir, lookup_task(config_dir, src, state="absent"),
            "src: only applies with state=present")


def test_a_large_change_reports_counts_and_a_sample(tmp_path, remote_tmp, config_dir):
    src = tmp_path / "access.src"
    src.write_text("".join("k%d.example OK\n" % index for index in range(1500)))
    rc, results, output = play(tmp_path, remote_tmp, [lookup_task(config_dir, src)])
    assert rc == 0 and results["t"]["added_count"] == 1500 and len(results["t"]["added"]) == 1000, output
    src.write_text("".join("k%d.example REJECT\n" % index for index in range(1500)))
    rc, results, output = play(tmp_path, remote_tmp, [lookup_task(config_dir, src, report="all")])
    assert rc == 0 and results["t"]["updated_count"] == 1500 and len(results["t"]["updated"]) == 1500, output


def policy_task(config_dir, src, src_format, name="t", **args):
    return {"name": name, POLICY: dict(path=str(config_dir / "tls_policy"), config_dir=str(config_dir),
                                       src=str(src), src_format=src_format, **args)}


@pytest.mark.parametrize("src_format, content", [
    ("postfix", "a.example encrypt protocols=>=TLSv1.2\n.a.example encrypt protocols=>=TLSv1.2\n"
                "[mx.b.example]:587 secure match=nexthop\n"),
    ("csv", "destination,level,attributes,include_subdomains\na.example,encrypt,protocols=>=TLSv1.2,yes\n"
            "\"[mx.b.example]:587\",secure,match=nexthop,\n"),
    ("yaml", "- {destination: a.example, level: encrypt, attributes: {protocols: '>=TLSv1.2'},"
             " include_subdomains: true}\n- {destination: '[mx.b.example]:587', level: secure,"
             " attributes: {match: nexthop}}\n"),
])
def test_tls_policy_src_in_each_format(tmp_path, remote_tmp, config_dir, src_format, content):
    src = tmp_path / ("policies." + src_format)
    src.write_text(content)
    rc, results, output = play(tmp_path, remote_tmp, [policy_task(config_dir, src, src_format)])
    assert rc == 0 and results["t"]["added_count"] == 3, output
    assert dump_table("hash:%s" % (config_dir / "tls_policy")) == [
        ".a.example\tencrypt protocols=>=TLSv1.2", "[mx.b.example]:587\tsecure match=nexthop",
        "a.example\tencrypt protocols=>=TLSv1.2"]
    before = snapshot(config_dir)
    rc, results, output = play(tmp_path, remote_tmp, [policy_task(config_dir, src, src_format)])
    assert rc == 0 and results["t"]["changed"] is False and snapshot(config_dir) == before, output


@pytest.mark.parametrize("content, said", [
    ("a.example,bogus\n", "src: row 1: level 'bogus' is not a TLS security level"),
    ("\"a.example\nb.example\",may\n", "src: row 2: destination holds a newline"),
    ("a.example,verify,\"match=x\tservername=y\"\n", "src: row 1: attributes holds a tab"),
])
def test_bad_csv_rows_change_nothing(tmp_path, remote_tmp, config_dir, content, said):
    (config_dir / "tls_policy").write_text("kept.example encrypt\n")
    src = tmp_path / "policies.csv"
    src.write_text(content)
    refused(tmp_path, remote_tmp, config_dir, policy_task(config_dir, src, "csv"), said)


def test_tls_policy_src_with_policies_is_refused(tmp_path, remote_tmp, config_dir):
    src = tmp_path / "policies.csv"
    src.write_text("a.example,may\n")
    task = policy_task(config_dir, src, "csv", policies=[{"destination": "b.example", "level": "may"}])
    assert "src" in refused(tmp_path, remote_tmp, config_dir, task, "mutually exclusive")


def test_downgrade_false_holds_for_src(tmp_path, remote_tmp, config_dir):
    (config_dir / "tls_policy").write_text("a.example secure\n")
    src = tmp_path / "policies.csv"
    src.write_text("a.example,may\nb.example,may\n")
    rc, results, output = play(tmp_path, remote_tmp, [policy_task(config_dir, src, "csv", downgrade=False)])
    assert rc == 0 and results["t"]["kept"] == ["a.example"] and results["t"]["added"] == ["b.example"], output
    assert (config_dir / "tls_policy").read_text() == "a.example secure\nb.example may\n"
