"""lookup_table against the real postmap: idempotence, index repair, types, bad input, differential."""

from __future__ import annotations

import os
import time

import pytest
from conftest import RELEASES, debian_main_cf, dump_table, make_config_dir, postmap
from helpers import run_module, run_module_on, run_playbook, snapshot

LOOKUP = "mailtls.postfix.lookup_table"


def lookup(localhost, config_dir, **args):
    return run_module(localhost, LOOKUP, config_dir=str(config_dir), **args)


def query(table, *keys):
    result = postmap("-q", "-", table, data="".join(k + "\n" for k in keys), check=False)
    return dict(line.split("\t", 1) for line in result.stdout.splitlines())


@pytest.mark.parametrize("table_type, index", [("hash", ".db"), ("btree", ".db"), ("lmdb", ".lmdb"),
                                               ("cdb", ".cdb")])
def test_apply_twice_then_noop_runs_no_postmap(localhost, config_dir, table_type, index):
    path = config_dir / "transport"
    entries = {"Example.org": "smtp:[relay.example.net]:587", "other.example": "local:"}
    first = lookup(localhost, config_dir, path=str(path), type=table_type, entries=entries)
    assert first["changed"] is True and first["postmap_run"] is True and first["reload_required"] is False
    assert first["added"] == ["Example.org", "other.example"] and first["table"] == "%s:%s" % (table_type, path)
    assert query("%s:%s" % (table_type, path), "example.org", "OTHER.example") == {
        "example.org": "smtp:[relay.example.net]:587", "OTHER.example": "local:"}
    assert not os.path.exists(str(path) + ".tmp") and not os.path.exists(str(path) + ".tmp" + index)

    before = snapshot(config_dir)
    second = lookup(localhost, config_dir, path=str(path), type=table_type, entries=entries)
    assert second["changed"] is False and second["postmap_run"] is False
    assert snapshot(config_dir) == before, "a no-op run writes nothing and runs no postmap"


def test_default_type_is_default_database_type(localhost, config_dir):
    result = lookup(localhost, config_dir, path=str(config_dir / "t"), key="a.example", value="OK")
    assert result["table"] == "hash:%s" % (config_dir / "t")
    assert (config_dir / "t.db").exists()


def test_index_missing_or_older_than_source_is_repaired(localhost, config_dir):
    path = config_dir / "access"
    lookup(localhost, config_dir, path=str(path), key="a.example", value="OK")
    source_bytes = path.read_bytes()

    (config_dir / "access.db").unlink()
    result = lookup(localhost, config_dir, path=str(path), key="a.example", value="OK")
    assert result["changed"] is True and result["postmap_run"] is True and result["added"] == []
    assert path.read_bytes() == source_bytes and query("hash:%s" % path, "a.example") == {"a.example": "OK"}

    # A hand edit without postmap: the index is now older than the source.
    path.write_text("a.example OK\nb.example REJECT\n")
    old = time.time() - 100
    os.utime(str(config_dir / "access.db"), (old, old))
    result = lookup(localhost, config_dir, path=str(path), key="a.example", value="OK")
    assert result["changed"] is True and result["postmap_run"] is True
    assert query("hash:%s" % path, "b.example") == {"b.example": "REJECT"}


def test_check_mode_and_diff_write_nothing(tmp_path, config_dir):
    path = config_dir / "access"
    task = {"name": "t", LOOKUP: {"path": str(path), "config_dir": str(config_dir),
                                  "entries": {"a.example": "OK", "b.example": "REJECT"}}}
    rc, results, output = run_playbook(tmp_path, [task], check=True, diff=True)
    assert rc == 0 and results["t"]["changed"] is True and results["t"]["postmap_run"] is True, output
    assert "+a.example OK" in output and "+b.example REJECT" in output
    assert not path.exists() and not (config_dir / "access.db").exists()
    for check, changed in ((False, True), (True, False), (False, False)):
        rc, results, output = run_playbook(tmp_path, [task], check=check, diff=True)
        assert rc == 0 and results["t"]["changed"] is changed, output


def test_exclusive_and_absent(localhost, config_dir):
    path = config_dir / "access"
    path.write_text("# keep this comment\nold.example REJECT\nkeep.example OK\n")
    result = lookup(localhost, config_dir, path=str(path), entries={"keep.example": "OK", "new.example": "OK"},
                    exclusive=True)
    assert result["removed"] == ["old.example"] and result["added"] == ["new.example"] and result["updated"] == []
    assert path.read_text() == "# keep this comment\nkeep.example OK\nnew.example OK\n"
    assert query("hash:%s" % path, "old.example") == {}
    result = lookup(localhost, config_dir, path=str(path), entries=["NEW.example", "gone.example"], state="absent")
    assert result["removed"] == ["new.example"]
    assert query("hash:%s" % path, "new.example") == {}


def test_texthash_needs_reload_not_postmap(localhost, config_dir):
    path = config_dir / "relay_domains"
    result = lookup(localhost, config_dir, path=str(path), type="texthash", key="example.org", value="OK")
    assert result["changed"] and result["postmap_run"] is False and result["reload_required"] is True
    assert sorted(p.name for p in config_dir.iterdir()) == ["main.cf", "master.cf", "relay_domains"]
    assert query("texthash:%s" % path, "example.org") == {"example.org": "OK"}


@pytest.mark.parametrize("table_type", ["hash", "btree", "lmdb", "cdb"])
@pytest.mark.parametrize("release", RELEASES)
def test_resolves_exactly_like_a_hand_written_postmapped_table(localhost, postfix_hosts, tmp_path, release,
                                                               table_type):
    """On each release's own postmap, in every indexed type Debian builds."""
    host = postfix_hosts(release)
    config_dir = make_config_dir(tmp_path / "postfix", debian_main_cf(), host)
    entries = dict(("host%d.example" % i, "smtp:[relay%d.example]:25" % (i % 7)) for i in range(500))
    entries.update({"UPPER.example": "OK", "with-space.example": "550 go away"})
    ours = config_dir / "transport"
    result = run_module_on(host, localhost, LOOKUP, config_dir=str(config_dir), path=str(ours), type=table_type,
                           entries=entries)
    assert result["changed"] and result["postmap_run"], result
    hand = tmp_path / "hand"
    hand.write_text("".join("%s %s\n" % item for item in entries.items()))
    host.postmap("-c", str(config_dir), "%s:%s" % (table_type, hand))
    # Every key, in the case Postfix folds it to, and keys that are not there.
    keys = "".join(key + "\n" for key in list(entries) + ["upper.example", "absent.example", "host500.example"])
    answers = [host.postmap("-c", str(config_dir), "-q", "-", "%s:%s" % (table_type, table), data=keys,
                            check=False).stdout.splitlines() for table in (ours, hand)]
    assert answers[0] == answers[1] and len(answers[0]) == 503
    if table_type != "cdb" or release == "3.10":  # cdb lists its entries (postmap -s) from 3.10 on
        assert dump_table("%s:%s" % (table_type, ours), host) == dump_table("%s:%s" % (table_type, hand), host)
    again = run_module_on(host, localhost, LOOKUP, config_dir=str(config_dir), path=str(ours), type=table_type,
                          entries=entries)
    assert not again["changed"] and not again["postmap_run"], again


@pytest.mark.parametrize("args, message", [
    ({"key": "a b.example", "value": "OK"}, "key: key 'a b.example' contains whitespace"),
    ({"key": "#a", "value": "OK"}, "starts with '#'"),
    ({"key": "a.example", "value": "OK\nb.example REJECT"}, "a.example: the value contains a newline"),
    ({"key": "a.example", "value": ""}, "a.example: the value is empty"),
    ({"key": "a.example"}, "a.example: a value is required with state=present"),
    ({"entries": {"a.example": ["x"]}}, "a.example: a value must be a string or a number, not list"),
    ({"entries": ["a.example"]}, "entries: with state=present, give a mapping"),
    ({"key": "a.example", "value": "OK", "type": "mysql"}, "type: 'mysql' is not a file-based lookup table type"),
    ({"key": "a.example", "value": "OK", "type": "dbm"},
     "type: this Postfix does not support the 'dbm' table type: postconf -m does not list it"),
    ({"key": "a.example", "value": "OK", "state": "absent"}, "value: must not be given with state=absent"),
    ({"key": "a.example", "value": "OK", "exclusive": True, "state": "absent"}, "value: must not be given"),
    ({"entries": {"a.example": "OK"}, "exclusive": True, "state": "absent"}, "exclusive: only applies"),
])
def test_bad_input_changes_nothing(localhost, config_dir, args, message):
    path = config_dir / "access"
    path.write_text("a.example OK\n")
    postmap("hash:%s" % path)
    before = snapshot(config_dir)
    result = lookup(localhost, config_dir, path=str(path), **args)
    assert result.get("failed") is True, result
    assert message in result["msg"]
    assert snapshot(config_dir) == before


def test_missing_directory_and_config_dir(localhost, config_dir, tmp_path):
    result = lookup(localhost, config_dir, path=str(tmp_path / "nope" / "t"), key="a", value="OK")
    assert result["failed"] and result["msg"] == "path: the directory %s does not exist" % (tmp_path / "nope")
    result = lookup(localhost, tmp_path / "empty", path=str(config_dir / "t"), key="a", value="OK")
    assert result["failed"] and result["msg"] == "config_dir: %s has no main.cf" % (tmp_path / "empty")
    assert not (config_dir / "t").exists()


def test_large_change_verifies_without_pipe_deadlock(localhost, config_dir):
    # Regression: the read-back of 20,000 keys once deadlocked on a full stdout pipe.
    entries = dict(("dest%d.example.net" % i, "encrypt protocols=>=TLSv1.2") for i in range(20000))
    result = lookup(localhost, config_dir, path=str(config_dir / "big"), entries=entries)
    assert result["changed"] and len(result["added"]) == 20000
    assert len(dump_table("hash:%s" % (config_dir / "big"))) == 20000


def test_empty_table_is_created_so_main_cf_can_name_it(localhost, config_dir):
    path = config_dir / "tls_policy"
    result = lookup(localhost, config_dir, path=str(path), entries={})
    assert result["changed"] is True and result["postmap_run"] is True
    assert path.read_text() == "" and (config_dir / "tls_policy.db").exists()
    assert lookup(localhost, config_dir, path=str(path), entries={})["changed"] is False
    # state=absent never creates a table
    other = config_dir / "other"
    assert lookup(localhost, config_dir, path=str(other), entries=["x"], state="absent")["changed"] is False
    assert not other.exists()


def test_non_utf8_bytes_survive_a_table_edit(localhost, config_dir):
    path = config_dir / "access"
    path.write_bytes(b"# f\xfcr Partner\na.example OK\n")
    result = lookup(localhost, config_dir, path=str(path), key="b.example", value="REJECT")
    assert result["changed"] is True
    assert path.read_bytes() == b"# f\xfcr Partner\na.example OK\nb.example REJECT\n"
    assert query("hash:%s" % path, "a.example", "b.example") == {"a.example": "OK", "b.example": "REJECT"}
