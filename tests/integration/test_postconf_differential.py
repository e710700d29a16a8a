"""Differential tests: our edits and the real ``postconf -e`` / ``-X`` give the same Postfix config.

On each Postfix a fleet runs (3.5, 3.7, 3.10: conftest.RELEASES), against that version's own
postconf. Real files (the corpus and the release's main.cf.dist) go through the module itself,
with the release's Python; seeded generated files go through the engine, which the module
runs, so that many cases stay fast.
"""

from __future__ import annotations

import random
import shutil

import pytest
from conftest import CORPUS, RELEASES, corpus_files, effective_config, make_config_dir, settle, untouched
from helpers import run_module_on

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.main_cf import plan_edit

# main.cf.dist is each release's own.
REAL_FILES = [path.name for path in corpus_files()] + ["main.cf.dist"]

# Edits that change something in every real file: the seed's sending side,
# a replaced value, a multi-line value, removals, and a user-defined parameter.
SETS = {
    "smtp_tls_security_level": "encrypt",
    "smtp_tls_policy_maps": "hash:/etc/postfix/tls_policy",
    "smtp_tls_loglevel": "1",
    "myhostname": "mx1.example.org",
    "mynetworks": "127.0.0.0/8 [::1]/128 192.0.2.0/24",
    "postscreen_dnsbl_sites": "zen.spamhaus.org*3",
    "mailtls_note": "managed by mailtls.postfix",
}
REMOVALS = ["smtpd_tls_security_level", "smtpd_recipient_restrictions", "biff", "smtpd_use_tls"]


def reference_edit(host, config_dir, sets, removals):
    """Apply the same edit with the host's real postconf."""
    if sets:
        host.postconf("-c", str(config_dir), "-e", *["%s=%s" % item for item in sorted(sets.items())])
        settle(config_dir / "main.cf")  # else the -X below waits 2 s for the file to settle
    if removals:
        host.postconf("-c", str(config_dir), "-X", *removals)


@pytest.mark.parametrize("source", REAL_FILES)
@pytest.mark.parametrize("release", RELEASES)
def test_module_matches_postconf_on_real_files(localhost, postfix_hosts, tmp_path, release, source):
    host = postfix_hosts(release)
    text = host.dist_file(source) if source == "main.cf.dist" else (CORPUS / source).read_text()
    ours = make_config_dir(tmp_path / "ours", text, host)
    theirs = make_config_dir(tmp_path / "theirs", text, host)

    result = run_module_on(host, localhost, "mailtls.postfix.postconf", config_dir=str(ours), parameters=SETS)
    assert result["changed"] is True, result
    removed = run_module_on(host, localhost, "mailtls.postfix.postconf", config_dir=str(ours),
                            parameters=REMOVALS, state="absent")
    assert "failed" not in removed, removed
    reference_edit(host, theirs, SETS, REMOVALS)

    assert effective_config(ours, host) == effective_config(theirs, host)
    new_text = (ours / "main.cf").read_text()
    names = list(SETS) + REMOVALS
    assert untouched(new_text, names) == untouched(text, names)
    # Every edited parameter changes here, so even the lines agree with postconf's; only the
    # order of appended parameters may differ (postconf appends in hash order, we in name order).
    their_text = (theirs / "main.cf").read_text()
    assert sorted(new_text.splitlines()) == sorted(their_text.splitlines())


# No self-references: a $myhostname inside myhostname is a fatal loop for Postfix.
WORDS = ["a", "b,", "$queue_directory", "${x?y}", "hash:/etc/postfix/t", "[::1]/128", "x=y", "#no", "c\t d"]
NAMES = ["myhostname", "mydomain", "relayhost", "mynetworks", "smtp_tls_security_level",
         "smtpd_tls_security_level", "alias_maps", "user_param", "other.param", "smtp-x_limit"]


def generated_main_cf(rng):
    """A random but valid main.cf: duplicates, continuations, comments, odd spacing."""
    out = []
    for _line in range(rng.randint(0, 12)):
        kind = rng.random()
        if kind < 0.2:
            out.append(rng.choice(["# comment\n", "\n", "   \n", "  # indented = comment\n", "#name = x\n"]))
            continue
        name = rng.choice(NAMES)
        spacing = rng.choice(["=", " = ", "  =\t", " ="])
        value = " ".join(rng.choice(WORDS) for _word in range(rng.randint(0, 3)))
        out.append("%s%s%s%s\n" % (name, spacing, value, rng.choice(["", " ", "\t"])))
        for _continuation in range(rng.choice([0, 0, 1, 2])):
            if rng.random() < 0.3:
                out.append("# between\n")
            out.append("%s%s\n" % (rng.choice([" ", "\t", "    "]), rng.choice(WORDS)))
    text = "".join(out)
    return text[:-1] if text and rng.random() < 0.2 else text


def generated_edit(rng):
    sets = {}
    for name in rng.sample(NAMES, rng.randint(0, 4)):
        sets[name] = rng.choice(["", "new", "a, b", "$queue_directory", "hash:/x", "  padded  "])
    removals = [name for name in rng.sample(NAMES, rng.randint(0, 3)) if name not in sets]
    return sets, removals


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("release", RELEASES)
def test_engine_matches_postconf_on_generated_files(postfix_hosts, tmp_path, release, seed):
    host = postfix_hosts(release)
    rng = random.Random(seed)
    text = generated_main_cf(rng)
    sets, removals = generated_edit(rng)
    ours = make_config_dir(tmp_path / "ours", text, host)
    # postconf -e of 3.5 and 3.7 glues an appended parameter onto a last line that has no
    # newline (see the test below); we add the newline, so compare with that file.
    theirs = make_config_dir(tmp_path / "theirs", text if text.endswith("\n") or not text else text + "\n", host)
    wanted = dict((name, value.strip()) for name, value in sets.items())

    new_text, changes = plan_edit(text, wanted, removals)
    (ours / "main.cf").write_text(new_text)
    reference_edit(host, theirs, sets, removals)

    assert effective_config(ours, host) == effective_config(theirs, host), (text, sets, removals)
    changed = [change.name for change in changes]
    # The only byte we add to an untouched line is a missing final newline.
    base = text + "\n" if changes and text and not text.endswith("\n") else text
    assert untouched(new_text, changed) == untouched(base, changed)
    # A second plan of the same edit is a no-op.
    assert plan_edit(new_text, wanted, removals) == (new_text, [])
    shutil.rmtree(tmp_path)


# What each release's postconf -e makes of a last line without a newline.
APPENDED_AFTER_LAST_LINE = {
    "3.5": "myhostname = mx.example.comrelayhost = [smart.example.com]\n",  # glued: one broken parameter
    "3.7": "myhostname = mx.example.comrelayhost = [smart.example.com]\n",
    "3.10": "myhostname = mx.example.com\nrelayhost = [smart.example.com]\n",  # fixed upstream
}


@pytest.mark.parametrize("release", RELEASES)
def test_missing_final_newline_does_not_corrupt_like_older_postconf(postfix_hosts, tmp_path, release):
    host = postfix_hosts(release)
    text = "myhostname = mx.example.com"
    theirs = make_config_dir(tmp_path / "theirs", text, host)
    reference_edit(host, theirs, {"relayhost": "[smart.example.com]"}, [])
    assert (theirs / "main.cf").read_text() == APPENDED_AFTER_LAST_LINE[release]
    new_text = plan_edit(text, {"relayhost": "[smart.example.com]"}, [])[0]
    assert new_text == "myhostname = mx.example.com\nrelayhost = [smart.example.com]\n"
    ours = make_config_dir(tmp_path / "ours", new_text, host)
    assert effective_config(ours, host)[0] == ["myhostname = mx.example.com", "relayhost = [smart.example.com]"]
