"""The execution environment definition, proved offline: no registry, no image build here.

`ansible-builder create` on a scratch copy of the collection writes the build context
(Containerfile plus _build/); the image build then runs ansible-galaxy and the context's own
introspect script. Both run here on the same inputs, so what the image would hold is checked
without building it: the collection installed, openssl as its only system package, no Python
packages beyond ansible-core.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile

import pytest
import yaml
from helpers import ROOT, VENV_BIN, ansible_env

BUILD_DEFINITION = "meta/execution-environment-build.yml"
TARBALL = "mailtls-postfix.tar.gz"


def run(cmd, **kwargs):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=ansible_env(), check=False,
                          **kwargs)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def scratch_copy(dest):
    """What git would ship: tracked files plus new ones not ignored, as tests/sanity.sh copies them."""
    files = run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT).stdout.split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    """The build context made from a scratch copy, the way docs/awx.md tells users to make it."""
    base = tmp_path_factory.mktemp("ee")
    source = scratch_copy(base / "src")
    out = source / ".cache" / "ee"
    run([VENV_BIN / "ansible-galaxy", "collection", "build", "--force", "--output-path", out, source])
    (built,) = out.glob("mailtls-postfix-*.tar.gz")
    built.rename(out / TARBALL)
    # The file name would otherwise follow the container tool found on PATH (Dockerfile without podman).
    run([VENV_BIN / "ansible-builder", "create", "-f", source / BUILD_DEFINITION, "-c", base / "context",
         "--output-filename", "Containerfile"])
    return base / "context"


def build_arg(containerfile, name):
    match = re.search(r'^ARG %s="([^"]*)"$' % name, containerfile, re.M)
    assert match, "no ARG %s in the Containerfile" % name
    return match.group(1)


def test_containerfile_installs_the_collection_with_the_ansible_core_we_claim(context):
    containerfile = (context / "Containerfile").read_text()
    assert build_arg(containerfile, "EE_BASE_IMAGE") == "quay.io/centos/centos:stream9"
    assert build_arg(containerfile, "PYCMD") == "/usr/bin/python3.11"
    requires = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())["requires_ansible"]
    lowest = re.fullmatch(r">=(\d+\.\d+)\.0", requires).group(1)
    refs = build_arg(containerfile, "ANSIBLE_INSTALL_REFS").split()
    assert refs[0].startswith("ansible-core>=%s," % lowest), (refs, requires)
    assert refs[1].startswith("ansible-runner>="), refs
    # The galaxy stage copies _build/ and installs the requirements; the final image gets its result.
    assert "\nCOPY _build /build\n" in containerfile
    assert re.search(r"^RUN .*ansible-galaxy collection install .*-r requirements.yml "
                     r'--collections-path "/usr/share/ansible/collections"$', containerfile, re.M)
    assert "\nCOPY --from=galaxy /usr/share/ansible /usr/share/ansible\n" in containerfile.split("FROM base AS final")[1]
    assert yaml.safe_load((context / "_build" / "requirements.yml").read_text()) == {
        "collections": [{"name": "collections/" + TARBALL, "type": "file"}]}
    with tarfile.open(context / "_build" / "collections" / TARBALL) as tar:
        names = set(tar.getnames())
    for expected in ("MANIFEST.json", "meta/runtime.yml", "meta/execution-environment.yml", "meta/ee-bindep.txt",
                     "meta/ee-requirements.txt", "plugins/modules/postconf.py", "roles/tls_forced/tasks/main.yml",
                     "playbooks/fleet.yml"):
        assert expected in names, expected


def test_build_definition_declares_no_dependencies_of_its_own(context):
    """The collection's needs reach the image one way only: its meta/execution-environment.yml."""
    assert not (context / "_build" / "bindep.txt").exists()
    assert not (context / "_build" / "requirements.txt").exists()
    assert "--user-bindep" not in (context / "Containerfile").read_text()


def test_introspection_finds_openssl_and_no_python_packages(context, tmp_path):
    """The builder stage's step, run here: galaxy install of the tarball, then the context's introspect."""
    share = tmp_path / "share" / "collections"
    # --force: the copy on ANSIBLE_COLLECTIONS_PATH would make ansible-galaxy skip the install.
    run([VENV_BIN / "ansible-galaxy", "collection", "install", "--force", "-p", share,
         context / "_build" / "collections" / TARBALL])
    bindep, pip = tmp_path / "bindep.txt", tmp_path / "requirements.txt"
    proc = run([VENV_BIN / "python", context / "_build" / "scripts" / "introspect.py", "introspect",
                "--write-bindep", bindep, "--write-pip", pip, share])
    assert bindep.exists(), proc.stdout + proc.stderr
    assert bindep.read_text() == "openssl  # from collection mailtls.postfix\n", proc.stdout
    assert not pip.exists() or pip.read_text() == "", proc.stdout
    assert "mailtls.postfix" in proc.stdout


def test_metadata_paths_resolve_from_the_collection_root():
    """ansible-builder reads the paths relative to the installed collection and refuses absolute ones."""
    metadata = yaml.safe_load((ROOT / "meta" / "execution-environment.yml").read_text())
    assert metadata["dependencies"] == {"python": "meta/ee-requirements.txt", "system": "meta/ee-bindep.txt"}
    lines = [line for line in (ROOT / "meta" / "ee-requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines == [], "the modules use the standard library only: nothing beyond ansible-core"
