"""Differential tests: our edits and the real ``postconf -e`` / ``-X`` give the same Postfix config.

Real files (the shared corpus and Debian's main.cf.dist) go through the module
itself; seeded generated files go through the engine, which the module runs,
so that many cases stay fast.
"""

from __future__ import annotations

import random
import shutil

import pytest
from conftest import MAIN_CF_DIST, corpus_files, effective_config, make_config_dir, postconf, settle, untouched
from helpers import run_module

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.main_cf import plan_edit

REAL_FILES = corpus_files() + [MAIN_CF_DIST]

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


def reference_edit(config_dir, sets, removals):
    """Apply the same edit with the real postconf."""
    if sets:
        postconf("-c", str(config_dir), "-e", *["%s=%s" % item for item in sorted(sets.items())])
        settle(config_dir / "main.cf")  # else the -X below waits 2 s for the file to settle
    if removals:
        postconf("-c", str(config_dir), "-X", *removals)


@pytest.mark.parametrize("source", REAL_FILES, ids=lambda path: path.name)
def test_module_matches_postconf_on_real_files(localhost, tmp_path, source):
    text = source.read_text()
    ours = make_config_dir(tmp_path / "ours", text)
    theirs = make_config_dir(tmp_path / "theirs", text)

    result = run_module(localhost, "mailtls.postfix.postconf", config_dir=str(ours), parameters=SETS)
    assert result["changed"] is True, result
    removed = run_module(localhost, "mailtls.postfix.postconf", config_dir=str(ours),
                         parameters=REMOVALS, state="absent")
    assert "failed" not in removed, removed
    reference_edit(theirs, SETS, REMOVALS)

    assert effective_config(ours) == effective_config(theirs)
    new_text = (ours / "main.cf").read_text()
    names = list(SETS) + REMOVALS
    assert untouched(new_text, names) == untouched(text, names)
    # Every edited parameter changes here, so even the lines agree with postconf's; only the
    # order of appended parameters may differ (3.7 appends in hash order, we in name order).
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
def test_engine_matches_postconf_on_generated_files(tmp_path, seed):
    rng = random.Random(seed)
    text = generated_main_cf(rng)
    sets, removals = generated_edit(rng)
    ours = make_config_dir(tmp_path / "ours", text)
    # Postfix 3.7's postconf -e glues an appended parameter onto a last line that has no
    # newline (see the test below); we add the newline, so compare with that file.
    theirs = make_config_dir(tmp_path / "theirs", text if text.endswith("\n") or not text else text + "\n")
    wanted = dict((name, value.strip()) for name, value in sets.items())

    new_text, changes = plan_edit(text, wanted, removals)
    (ours / "main.cf").write_text(new_text)
    reference_edit(theirs, sets, removals)

    assert effective_config(ours) == effective_config(theirs), (text, sets, removals)
    changed = [change.name for change in changes]
    # The only byte we add to an untouched line is a missing final newline.
    base = text + "\n" if changes and text and not text.endswith("\n") else text
    assert untouched(new_text, changed) == untouched(base, changed)
    # A second plan of the same edit is a no-op.
    assert plan_edit(new_text, wanted, removals) == (new_text, [])
    shutil.rmtree(tmp_path)


def test_missing_final_newline_does_not_corrupt_like_postconf_37(tmp_path):
    text = "myhostname = mx.example.com"
    theirs = make_config_dir(tmp_path / "theirs", text)
    reference_edit(theirs, {"relayhost": "[smart.example.com]"}, [])
    # Postfix 3.7 writes "myhostname = mx.example.comrelayhost = ...": one broken parameter.
    assert (theirs / "main.cf").read_text() == "myhostname = mx.example.comrelayhost = [smart.example.com]\n"
    new_text = plan_edit(text, {"relayhost": "[smart.example.com]"}, [])[0]
    assert new_text == "myhostname = mx.example.com\nrelayhost = [smart.example.com]\n"
    ours = make_config_dir(tmp_path / "ours", new_text)
    assert effective_config(ours)[0] == ["myhostname = mx.example.com", "relayhost = [smart.example.com]"]
