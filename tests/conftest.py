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


class PostfixHost:
    """Where Postfix's own tools and our modules run: this machine (Debian 12, Postfix 3.7).

    ``OtherRelease`` runs them in a container of another Debian release instead, so that a
    differential test compares our edit with that release's own postconf and postmap.
    """

    release = "3.7"
    container = None

    def tool(self, *argv, data=None, check=True):
        """Run a Postfix tool with LANG=C; return the CompletedProcess."""
        return subprocess.run(list(argv), input=data, capture_output=True, text=True, check=check,
                              env=dict(os.environ, LANG="C", LC_ALL="C"))

    def postconf(self, *args, check=True):
        return self.tool("postconf", *args, check=check)

    def postmap(self, *args, data=None, check=True):
        return self.tool("postmap", *args, data=data, check=check)

    def dist_file(self, name):
        """A file of Debian's postfix package in /usr/share/postfix, as text."""
        return (Path("/usr/share/postfix") / name).read_text()


class OtherRelease(PostfixHost):
    """A long-running container of a test-host image (tests/molecule/build-image.sh).

    The host's /tmp is the container's /tmp, so both sides see the same scratch files; the
    repository and Ansible's own package are mounted read-only, and a module runs as Ansible
    runs it on a managed node: the release's own python3 with the JSON arguments on stdin.
    """

    IMAGES = {"3.5": "localhost/mailtls-postfix-debian11:latest",
              "3.10": "localhost/mailtls-postfix-debian13:latest"}

    def __init__(self, release):
        import ansible

        self.release = release
        image = self.IMAGES[release]
        if subprocess.run(["podman", "image", "exists", image], check=False).returncode != 0:
            pytest.fail("image %s is missing: run bash tests/molecule/host-setup.sh and "
                        "bash tests/molecule/build-image.sh" % image, pytrace=False)
        self.container = "mailtls-differential-%s-%d" % (release, os.getpid())
        ansible_package = Path(ansible.__file__).parent
        subprocess.run(["podman", "run", "-d", "--rm", "--init", "--network=none", "--name", self.container,
                        "-v", "/tmp:/tmp", "-v", "%s:%s:ro" % (ROOT, ROOT),
                        "-v", "%s:/mailtls-python/ansible:ro" % ansible_package,
                        image, "sleep", "infinity"], check=True, capture_output=True)
        version = self.postconf("-h", "mail_version").stdout.strip()
        assert version.startswith(release + "."), (image, version)

    def tool(self, *argv, data=None, check=True):
        return subprocess.run(["podman", "exec", "-i", "-e", "LANG=C", "-e", "LC_ALL=C", self.container, *argv],
                              input=data, capture_output=True, text=True, check=check)

    def dist_file(self, name):
        return self.tool("cat", "/usr/share/postfix/" + name).stdout

    def run_module(self, module, args):
        """Run one of our modules with this release's Python; return its result."""
        from drivers import run_as_ansible

        run = run_as_ansible(module, args, container=self.container, pythonpath=["/mailtls-python"])
        if run.result is None:
            pytest.fail("%s on Postfix %s printed no result: %s" % (module, self.release, run.output))
        return run.result

    def stop(self):
        subprocess.run(["podman", "rm", "-f", "-t", "0", self.container], check=False, capture_output=True)


THIS_MACHINE = PostfixHost()
# Postfix of Debian 12 (here), 11 and 13: the versions a fleet runs side by side.
RELEASES = ["3.7", "3.5", "3.10"]


@pytest.fixture(scope="session")
def postfix_hosts():
    """``get(release)``: the PostfixHost of a release, its container started on first use."""
    started = {"3.7": THIS_MACHINE}

    def get(release):
        if release not in started:
            started[release] = OtherRelease(release)
        return started[release]

    yield get
    for host in started.values():
        if host.container:
            host.stop()


def make_config_dir(base, main_cf_text, host=THIS_MACHINE):
    """A Postfix configuration directory with the given main.cf and the host's Debian master.cf."""
    base = Path(base)
    base.mkdir(parents=True, exist_ok=True)
    (base / "main.cf").write_bytes(main_cf_text.encode("utf-8", "surrogateescape"))
    if host is THIS_MACHINE:
        shutil.copyfile(MASTER_CF_DIST, base / "master.cf")
    else:
        (base / "master.cf").write_text(host.dist_file("master.cf.dist"))
    settle(base / "main.cf")
    return base


def postconf(*args, check=True):
    """Run this machine's postconf with LANG=C; return the CompletedProcess."""
    return THIS_MACHINE.postconf(*args, check=check)


def effective_config(config_dir, host=THIS_MACHINE):
    """``postconf -n`` of a directory without its config_directory line, plus unknown parameters.

    A fatal error is part of the result too: both sides must fail alike.
    """
    settle(Path(config_dir) / "main.cf")
    result = host.postconf("-c", str(config_dir), "-n", check=False)
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
    """Run this machine's postmap with LANG=C."""
    return THIS_MACHINE.postmap(*args, data=data, check=check)


def dump_table(table, host=THIS_MACHINE):
    """``postmap -s`` of a table as a sorted list of lines."""
    return sorted(host.postmap("-s", table).stdout.splitlines())


def untouched(text, names):
    """The physical lines of a main.cf that do not belong to a setting of ``names``."""
    from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.main_cf import MainCf

    document = MainCf(text)
    owned = set()
    for name in names:
        for setting in document.settings.get(name, []):
            owned.update(setting.members)
    return [line for index, line in enumerate(document.lines) if index not in owned]
