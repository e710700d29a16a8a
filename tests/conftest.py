"""Shared fixtures: throw-away Postfix configuration directories and the real postconf."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS = ROOT / ".cache" / "collections"
# Real-world main.cf files, kept in the repository (tests/corpus/main.cf/SOURCES.md).
CORPUS = Path(os.environ.get("MAILTLS_CORPUS", ROOT / "tests" / "corpus" / "main.cf"))
MASTER_CF_DIST = Path("/usr/share/postfix/master.cf.dist")
MAIN_CF_DIST = Path("/usr/share/postfix/main.cf.dist")

if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", str(COLLECTIONS))
# The managed "host" is this machine: use Debian's Python, never a pyenv shim.
TARGET_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
os.environ.setdefault("ANSIBLE_PYTHON_INTERPRETER", TARGET_PYTHON)


def settle(path):
    """Backdate a file: Postfix tools wait ~2 s for a main.cf younger than that."""
    old = os.stat(path).st_mtime - 10
    os.utime(path, (old, old))


def make_config_dir(base, main_cf_text):
    """A Postfix configuration directory with the given main.cf and Debian's master.cf."""
    base = Path(base)
    base.mkdir(parents=True, exist_ok=True)
    (base / "main.cf").write_bytes(main_cf_text.encode("utf-8", "surrogateescape"))
    shutil.copyfile(MASTER_CF_DIST, base / "master.cf")
    settle(base / "main.cf")
    return base


def postconf(*args, check=True):
    """Run the real postconf with LANG=C; return the CompletedProcess."""
    return subprocess.run(["postconf", *args], capture_output=True, text=True, check=check,
                          env=dict(os.environ, LANG="C", LC_ALL="C"))


def effective_config(config_dir):
    """``postconf -n`` of a directory without its config_directory line, plus unknown parameters.

    A fatal error is part of the result too: both sides must fail alike.
    """
    settle(Path(config_dir) / "main.cf")
    result = postconf("-c", str(config_dir), "-n", check=False)
    if result.returncode != 0:
        return ["fatal"], [line.replace(str(config_dir), "DIR") for line in result.stderr.splitlines()]
    lines = [line for line in result.stdout.splitlines() if not line.startswith("config_directory = ")]
    unused = sorted(line.split("unused parameter: ", 1)[1]
                    for line in result.stderr.splitlines() if "unused parameter: " in line)
    return lines, unused


def corpus_files():
    files = sorted(CORPUS.glob("*.cf*"))
    assert files, "the main.cf corpus is missing from %s" % CORPUS  # never pass by testing nothing
    return files


@pytest.fixture
def config_dir(tmp_path):
    """A config directory holding Debian's freshly installed main.cf, TLS part included."""
    return make_config_dir(tmp_path / "postfix", debian_main_cf())


def debian_main_cf():
    """main.cf as Debian 12's postfix package installs it (its main.cf.tls appended)."""
    if (CORPUS / "debian12-installed.main.cf").exists():
        return (CORPUS / "debian12-installed.main.cf").read_text() + (CORPUS / "debian12-main.cf.tls").read_text()
    return Path("/usr/share/postfix/main.cf.debian").read_text() + Path("/usr/share/postfix/main.cf.tls").read_text()


def postmap(*args, data=None, check=True):
    """Run the real postmap with LANG=C."""
    return subprocess.run(["postmap", *args], input=data, capture_output=True, text=True, check=check,
                          env=dict(os.environ, LANG="C", LC_ALL="C"))


def dump_table(table):
    """``postmap -s`` of a table as a sorted list of lines."""
    return sorted(postmap("-s", table).stdout.splitlines())


def untouched(text, names):
    """The physical lines of a main.cf that do not belong to a setting of ``names``."""
    from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.main_cf import MainCf

    document = MainCf(text)
    owned = set()
    for name in names:
        for setting in document.settings.get(name, []):
            owned.update(setting.members)
    return [line for index, line in enumerate(document.lines) if index not in owned]
