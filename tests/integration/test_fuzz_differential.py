"""Property-based differential fuzzing of the engine against the real Postfix tools.

Random main.cf files and edits: our edit and the real ``postconf -e``/``-X`` must give the
same ``postconf -n`` (and the same unknown-parameter warnings, or the same fatal error),
and every line we do not edit keeps its bytes. Random tables and edits: our table,
postmapped, must dump (``postmap -s``) exactly like a table written by hand from what
Postfix itself read out of the original, with the edit applied.

Each case runs against the Postfix of Debian 12 here and of Debian 11 and 13 in containers
(conftest.RELEASES). A fixed seed and a bounded number of cases run by default (fewer in the
containers, where every Postfix command is a podman exec); set MAILTLS_FUZZ_EXAMPLES (e.g. 5000)
for the long mode.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from conftest import RELEASES, corpus_files, effective_config, make_config_dir, settle, untouched
from helpers import run_module_on
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.main_cf import MainCf, plan_edit
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.table import LookupTable

EXAMPLES = int(os.environ.get("MAILTLS_FUZZ_EXAMPLES", "0"))


def fuzz(host, here=60, in_container=20):
    """Hypothesis settings for a host: 60 cases here, 20 in a container, unless told otherwise."""
    examples = EXAMPLES or (here if host.container is None else in_container)
    return settings(max_examples=examples, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


NAMES = ["myhostname", "mydomain", "relayhost", "mynetworks", "smtp_tls_security_level",
         "smtpd_tls_security_level", "alias_maps", "user_param", "other.param", "smtp-x_limit",
         "smtpd_use_tls", "inet_interfaces"]
# No self-references: $myhostname inside myhostname is a fatal loop for Postfix.
WORDS = st.sampled_from(["a", "b,", "c d", "$queue_directory", "${x?y}", "${x:z}", "hash:/etc/postfix/t",
                         "[::1]/128", "x=y", "#no", "\td", "yes", "=", "{ a, b }", "\u00e9t\u00e9"])
SPACING = st.sampled_from(["=", " = ", "  =\t", " =", "= ", "\t=\t"])
INDENT = st.sampled_from([" ", "\t", "    ", " \t"])
TRAILING = st.sampled_from(["", " ", "\t", "  \t"])
NOISE = st.sampled_from(["# comment\n", "\n", "   \n", "  # indented = comment\n", "#name = x\n", "\t\n"])


@st.composite
def main_cf_texts(draw):
    out = []
    for _line in range(draw(st.integers(0, 10))):
        if draw(st.booleans()) and draw(st.booleans()):
            out.append(draw(NOISE))
            continue
        value = " ".join(draw(st.lists(WORDS, max_size=3)))
        out.append("%s%s%s%s\n" % (draw(st.sampled_from(NAMES)), draw(SPACING), value, draw(TRAILING)))
        for _more in range(draw(st.integers(0, 2))):
            if draw(st.booleans()):
                out.append(draw(NOISE))
            out.append("%s%s%s\n" % (draw(INDENT), draw(WORDS), draw(TRAILING)))
    text = "".join(out)
    if text and draw(st.booleans()) and draw(st.booleans()):
        text = text[:-1]
    return text


EDIT_VALUES = st.sampled_from(["", "new", "a, b", "$queue_directory", "hash:/x", "  padded  ", "{ x }", "yes"])


@st.composite
def main_cf_edits(draw):
    sets = draw(st.dictionaries(st.sampled_from(NAMES), EDIT_VALUES, max_size=4))
    removals = draw(st.lists(st.sampled_from([n for n in NAMES if n not in sets]), max_size=3, unique=True))
    return sets, removals


@pytest.mark.parametrize("release", RELEASES)
def test_main_cf_edits_match_postconf(postfix_hosts, release):
    host = postfix_hosts(release)

    @fuzz(host)
    @given(text=main_cf_texts(), edit=main_cf_edits())
    def check(text, edit):
        main_cf_edit_matches_postconf(host, text, edit)

    check()


def main_cf_edit_matches_postconf(host, text, edit):
    sets, removals = edit
    work = Path(tempfile.mkdtemp(prefix="mailtls-fuzz-"))
    try:
        ours = make_config_dir(work / "ours", text, host)
        # postconf -e of 3.5 and 3.7 glues an appended parameter onto a last line without a
        # newline; we add the newline, so the reference starts from the file with it.
        theirs = make_config_dir(work / "theirs", text if not text or text.endswith("\n") else text + "\n", host)
        wanted = dict((name, value.strip()) for name, value in sets.items())
        new_text, changes = plan_edit(text, wanted, removals)
        (ours / "main.cf").write_text(new_text)
        if sets:
            host.postconf("-c", str(theirs), "-e", *["%s=%s" % item for item in sorted(sets.items())])
            settle(theirs / "main.cf")  # else the -X below waits 2 s for the file to settle
        if removals:
            host.postconf("-c", str(theirs), "-X", *removals)

        assert effective_config(ours, host) == effective_config(theirs, host)
        changed = [change.name for change in changes]
        base = text + "\n" if changes and text and not text.endswith("\n") else text
        assert untouched(new_text, changed) == untouched(base, changed)
        assert plan_edit(new_text, wanted, removals) == (new_text, [])
    finally:
        shutil.rmtree(work)


def duplicated_corpus():
    """The corpus files that set a parameter twice or more, as {name: text}."""
    texts = dict((path.name, path.read_text()) for path in corpus_files())
    return dict((name, text) for name, text in texts.items()
                if any(len(settings) > 1 for settings in MainCf(text).settings.values()))


# Values Postfix reads without a warning; no $-references, which could loop (myhostname = $mydomain).
PLAIN_VALUES = ["mail.example.org", "a, b", "", "hash:/etc/postfix/x", "yes", "127.0.0.0/8 [::1]/128"]


@st.composite
def corpus_edits(draw, texts):
    """A corpus file with duplicate entries and one or two module calls' worth of edits of it.

    Names are drawn evenly from the duplicated ones, the multi-line ones, the others and new
    ones; a value may be the one the file gives now or the one it overrides, so a second step
    can change a parameter back.
    """
    source = draw(st.sampled_from(sorted(texts)))
    document = MainCf(texts[source])
    duplicated = sorted(name for name, found in document.settings.items() if len(found) > 1)
    multi_line = sorted(name for name, found in document.settings.items()
                        if any(len(setting.members) > 1 for setting in found))
    others = sorted(set(document.settings) - set(duplicated) - set(multi_line))
    names = st.one_of([st.sampled_from(group) for group in (duplicated, multi_line, others) if group]
                      + [st.sampled_from(["mailtls_note", "smtp_tls_loglevel"])])

    def values(name):
        found = [setting.value for setting in document.settings.get(name, []) if setting.value is not None]
        return st.sampled_from(PLAIN_VALUES + [" ".join(value.split()) for value in found[:1] + found[-1:]])

    steps = []
    for _step in range(draw(st.integers(1, 2))):
        sets = {}
        for name in draw(st.lists(names, min_size=1, max_size=4, unique=True)):
            sets[name] = draw(values(name))
        removals = draw(st.lists(names.filter(lambda name: name not in sets), max_size=3, unique=True))
        steps.append((sets, removals))
    return source, steps


def overridden(config_dir, host):
    """The parameters Postfix warns are set twice, one per warning, in order."""
    settle(config_dir / "main.cf")
    stderr = host.postconf("-c", str(config_dir), "-n").stderr
    return sorted(line.split("overriding earlier entry: ", 1)[1].split("=", 1)[0]
                  for line in stderr.splitlines() if "overriding earlier entry: " in line)


@pytest.mark.parametrize("release", RELEASES)
def test_module_edits_of_files_with_duplicate_entries_match_postconf(localhost, postfix_hosts, release):
    """Issue 18: an edit that moves a duplicate entry's line is never refused, and gives postconf's file."""
    host = postfix_hosts(release)
    texts = duplicated_corpus()
    assert len(texts) >= 3, sorted(texts)

    @fuzz(host, here=15, in_container=6)
    @given(case=corpus_edits(texts))
    def check(case):
        source, steps = case
        module_edits_match_postconf(host, localhost, texts[source], steps)

    check()


def module_edits_match_postconf(host, localhost, text, steps):
    work = Path(tempfile.mkdtemp(prefix="mailtls-fuzz-"))
    try:
        ours = make_config_dir(work / "ours", text, host)
        theirs = make_config_dir(work / "theirs", text, host)
        for sets, removals in steps:
            before = (ours / "main.cf").read_text()
            changed = []
            for args in ({"parameters": sets}, {"parameters": removals, "state": "absent"}):
                if args["parameters"]:
                    result = run_module_on(host, localhost, "mailtls.postfix.postconf", config_dir=str(ours), **args)
                    if result.get("failed") and "is not an integer" in result.get("msg", ""):
                        # postconf -e writes it; every Postfix daemon then exits "bad numerical
                        # configuration": the refusal, naming the parameter, is ours to make.
                        assert any(result["msg"].startswith(name + ":") for name in sets), result
                        return
                    assert not result.get("failed"), (result, sets, removals)
                    changed.extend(result["changes"])
            if sets:
                host.postconf("-c", str(theirs), "-e", *["%s=%s" % item for item in sorted(sets.items())])
                settle(theirs / "main.cf")
            if removals:
                host.postconf("-c", str(theirs), "-X", *removals)

            assert effective_config(ours, host) == effective_config(theirs, host), (sets, removals)
            assert overridden(ours, host) == overridden(theirs, host), (sets, removals)
            new_text = (ours / "main.cf").read_text()
            assert untouched(new_text, changed) == untouched(before, changed)
            if set(sets) <= set(changed):
                # postconf -e rewrites a line that already holds the value; we do not. Otherwise
                # only the order of appended parameters differs (postconf's is hash order).
                assert sorted(new_text.splitlines()) == sorted((theirs / "main.cf").read_text().splitlines())
    finally:
        shutil.rmtree(work)


KEYS = st.sampled_from(["a.example", "A.Example", "b.example", ".b.example", "[mx.c.example]:587", "d",
                        "e.example", "E.EXAMPLE", "f-g.example"])
TABLE_VALUES = st.sampled_from(["encrypt", "may", "verify match=hostname", "OK", "smtp:[relay]:25",
                                "secure   match=nexthop:dot-nexthop", "550 no"])


@st.composite
def table_texts(draw):
    out = []
    for _line in range(draw(st.integers(0, 10))):
        if draw(st.booleans()) and draw(st.booleans()):
            out.append(draw(NOISE))
            continue
        out.append("%s%s%s%s\n" % (draw(KEYS), draw(st.sampled_from([" ", "\t", "   "])), draw(TABLE_VALUES),
                                   draw(TRAILING)))
        if draw(st.booleans()) and draw(st.booleans()):
            out.append("%s%s\n" % (draw(INDENT), draw(st.sampled_from(["protocols=>=TLSv1.2", "x"]))))
    return "".join(out)


@pytest.mark.parametrize("release", RELEASES)
def test_table_edits_resolve_like_a_hand_written_table(postfix_hosts, release):
    host = postfix_hosts(release)

    @fuzz(host)
    @given(text=table_texts(), wanted=st.dictionaries(KEYS, TABLE_VALUES, max_size=4),
           remove=st.lists(KEYS, max_size=3), exclusive=st.booleans())
    def check(text, wanted, remove, exclusive):
        table_edit_resolves_like_a_hand_written_table(host, text, wanted, remove, exclusive)

    check()


def table_edit_resolves_like_a_hand_written_table(host, text, wanted, remove, exclusive):
    # Two spellings of one key in one request are ambiguous; the modules take one spelling.
    folded = {}
    for key, value in wanted.items():
        folded.setdefault(key.lower(), (key, value))
    wanted = dict(folded.values())
    remove = [key for key in remove if key.lower() not in folded]
    work = Path(tempfile.mkdtemp(prefix="mailtls-fuzz-"))
    try:
        make_config_dir(work, "", host)
        original = work / "original"
        original.write_text(text)
        host.postmap("-c", str(work), "hash:%s" % original)
        before = dict(line.split("\t", 1) for line in host.postmap("-s", "hash:%s" % original).stdout.splitlines())

        expected = {} if exclusive else dict(before)
        if exclusive:
            expected = dict((key, value) for key, value in before.items() if key in folded)
        for key in remove:
            expected.pop(key.lower(), None)
        for key, value in wanted.items():
            expected[key.lower()] = value
        hand = work / "hand"
        hand.write_text("".join("%s %s\n" % item for item in sorted(expected.items())))
        host.postmap("-c", str(work), "hash:%s" % hand)

        new_text = LookupTable(text).edited(wanted, remove, exclusive)[0]
        ours = work / "ours"
        ours.write_text(new_text)
        host.postmap("-c", str(work), "hash:%s" % ours)
        assert sorted(host.postmap("-s", "hash:%s" % ours).stdout.splitlines()) == \
            sorted(host.postmap("-s", "hash:%s" % hand).stdout.splitlines())
        assert not LookupTable(new_text).edited(wanted, remove, exclusive)[1], "a second edit is a no-op"
    finally:
        shutil.rmtree(work)
