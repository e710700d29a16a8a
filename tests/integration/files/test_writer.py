"""The one writer (issue 19): every kind of file the collection writes goes through one commit step.

main.cf, a table source and its index, a certificate, a key, the DANE file, the relay's record and
the renewal hook are written here through the code path their module or side uses, in process, with
the real Postfix tools and openssl; what the writer promises is watched from inside:

- the temporary has its mode and owner (and the old file's SELinux context) before its first byte, so a
  key is never readable by others, not even for a moment;
- a backup, when asked, holds the old bytes and is no more readable than the old file or the new one;
- a symbolic link or FIFO at the file's name is refused with nothing changed (a table replaces a link,
  never writing through it);
- a crash between the temporary and the rename leaves the old file, and no temporary behind;
- the SELinux context of the old file is read and given to the new one (a fake selinux binding: this
  machine has no SELinux), certificates and keys as main.cf.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host import files
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host.base import FileEditModule
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host.files import REPLACE, FileAttributes
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import PostfixError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.work.certificate import TlsCertificate
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.work.renewal_hook import HOOK_MODE, hook_script
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.work.table_edit import PrivateTable

OLD = b"old bytes\n"


class FakeModule(object):
    """What the engine asks of AnsibleModule, with the real tools and a fake SELinux binding."""

    def __init__(self, params, tmpdir, selinux=None):
        self.params, self.tmpdir, self.check_mode, self._diff = params, str(tmpdir), False, False
        self.selinux = selinux

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")

    def run_command(self, argv, data=None, binary_data=False, environ_update=None, cwd=None, **_options):
        ran = subprocess.run(argv, input=data.encode() if isinstance(data, str) else data, capture_output=True,
                             cwd=cwd, env=dict(os.environ, **(environ_update or {})), check=False)
        return ran.returncode, ran.stdout.decode(errors="surrogateescape"), ran.stderr.decode(errors="replace")

    def selinux_enabled(self):
        return self.selinux is not None

    def selinux_context(self, path):
        return self.selinux.context(path)

    def set_context_if_different(self, path, context, changed, diff=None):
        return self.selinux.set(path, context)

    def load_file_common_arguments(self, params, path=None):
        return {"path": path}

    def set_fs_attributes_if_different(self, file_args, changed, diff=None, expand=True):
        return changed


class FakeSelinux(object):
    """Each existing file has its own context; every read and every label is written down."""

    def __init__(self):
        self.events = []

    def context(self, path):
        self.events.append(("read", path))
        return ["system_u", "object_r", "old_t_" + os.path.basename(path), "s0"]

    def set(self, path, context):
        self.events.append(("label", path, ":".join(context), os.lstat(path).st_size))
        return True


def pem_pair(directory, name="mx"):
    key, cert = directory / ("%s.gen.key" % name), directory / ("%s.gen.pem" % name)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "30", "-subj", "/CN=%s.writer.test" % name, "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert.read_text(), key.read_text()


# --- one write of each kind, through its module's or side's own path ------------------------------------

def write_main_cf(env, backup=False):
    editor = FileEditModule(FakeModule({"backup": backup}, env["tmp"], env.get("selinux")))
    editor.edit_file(env["path"], lambda text: (text + "smtpd_tls_loglevel = 1\n", None))
    return editor


def write_table(env, backup=False):
    params = dict(config_dir=str(env["conf"]), path=env["path"], type="hash", key=None, value=None,
                  entries={"[relay.writer.test]:587": "user:secret"}, state="present", exclusive=True,
                  secret=True, backup=backup)
    part = PrivateTable(FakeModule(params, env["tmp"], env.get("selinux")))
    part.execute()
    return part


def write_pair(env, backup=False):
    cert, key = env["pem"]
    params = dict(cert_file=env["cert"], key_file=env["key"], chains=None, cert_content=cert, key_content=key,
                  self_signed=False, self_signed_subject=None, self_signed_days=365, key_mode="0600",
                  key_group=None, cert_mode="0644", backup=backup)
    part = TlsCertificate(FakeModule(params, env["tmp"], env.get("selinux")))
    part.execute()
    return part


def write_own(env, text, mode, odd_target=files.REFUSE):
    module = FakeModule({}, env["tmp"], env.get("selinux"))
    FileEditModule(module).write_own_file(env["path"], text, mode, odd_target)


def write_relay_record(env, backup=False):
    module = FakeModule({}, env["tmp"], env.get("selinux"))
    FileEditModule(module).write_whole_file(env["path"], json.dumps({"files": ["/x"]}) + "\n",
                                            FileAttributes(0o600, os.geteuid(), os.getegid()))


KINDS = {
    # name: (file name, writer, mode it gets, has a backup option)
    "main.cf": ("main.cf", write_main_cf, 0o644, True),
    "table": ("sasl_passwd", write_table, 0o600, True),
    "certificate": ("mx.pem", write_pair, 0o644, True),
    "key": ("mx.key", write_pair, 0o600, True),
    "dane": ("tlsa.zone", lambda env, backup=False: write_own(env, "; TLSA\n", 0o644), 0o644, False),
    "hook": ("hook", lambda env, backup=False: write_own(env, hook_script(str(env["conf"]), "/r"), HOOK_MODE),
             HOOK_MODE, False),
    "relay_record": ("mailtls-relay.json", write_relay_record, 0o600, False),
    "loaded_record": ("mailtls-loaded-tls-files.json",
                      lambda env, backup=False: write_own(env, "{}\n", 0o600, REPLACE), 0o600, False),
}
REFUSING = [kind for kind in KINDS if kind not in ("table", "loaded_record")]


@pytest.fixture
def env(tmp_path, config_dir):
    def make(kind, old=OLD, old_mode=0o640):
        name = KINDS[kind][0]
        state = {"tmp": tmp_path, "conf": config_dir, "path": str(config_dir / name),
                 "cert": str(config_dir / "mx.pem"), "key": str(config_dir / "mx.key")}
        state["pem"] = pem_pair(tmp_path)
        if kind in ("certificate", "key"):
            # The other file of the pair is there already, with the bytes the run writes: only one is written.
            other = "key" if kind == "certificate" else "cert"
            with open(state[other], "w") as handle:
                handle.write(state["pem"][1] if other == "key" else state["pem"][0])
            os.chmod(state[other], 0o600 if other == "key" else 0o644)
        if old is not None and kind != "main.cf":
            with open(state["path"], "wb") as handle:
                handle.write(old)
            os.chmod(state["path"], old_mode)
        return state
    return make


def run(kind, state, **options):
    return KINDS[kind][1](state, **options)


def files_of(directory):
    found = {}
    for name in sorted(os.listdir(str(directory))):
        path = os.path.join(str(directory), name)
        info = os.lstat(path)
        found[name] = (stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode),
                       open(path, "rb").read() if stat.S_ISREG(info.st_mode) else os.readlink(path)
                       if stat.S_ISLNK(info.st_mode) else None)
    return found


# --- mode and owner before the first byte ---------------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_temporary_has_its_mode_and_owner_before_its_first_byte(monkeypatch, env, kind):
    state = env(kind, old_mode=0o644 if KINDS[kind][2] & 0o004 else 0o600)
    seen, write_all = [], files._write_all

    def watched(fd, data):
        info = os.fstat(fd)
        if info.st_size == 0 and os.path.samestat(info, os.lstat(state["path"] + ".tmp")):
            seen.append((stat.S_IMODE(info.st_mode), info.st_uid))
        return write_all(fd, data)

    monkeypatch.setattr(files, "_write_all", watched)
    run(kind, state)
    mode = KINDS[kind][2]
    assert (mode, os.geteuid()) in seen, seen
    if kind in ("key", "table", "relay_record", "loaded_record"):
        assert all(found & 0o077 == 0 for found, _uid in seen), "a secret was readable by others for a moment"
    assert stat.S_IMODE(os.stat(state["path"]).st_mode) == mode
    assert not os.path.lexists(state["path"] + ".tmp")


# --- backups --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", [kind for kind in sorted(KINDS) if KINDS[kind][3]])
def test_a_backup_when_asked_holds_the_old_bytes_and_is_no_more_readable(env, kind):
    old_mode = 0o640 if kind == "key" else 0o644  # a key readable by others is refused before any write
    state = env(kind, old_mode=old_mode)
    before = open(state["path"], "rb").read()
    written = run(kind, state, backup=True)
    result = written.result
    backups = [name for name in os.listdir(os.path.dirname(state["path"]))
               if name.startswith(os.path.basename(state["path"]) + ".") and name.endswith("~")]
    assert len(backups) == 1, backups
    backup = os.path.join(os.path.dirname(state["path"]), backups[0])
    assert open(backup, "rb").read() == before
    assert stat.S_IMODE(os.stat(backup).st_mode) == old_mode & KINDS[kind][2], "the backup is more open than a file"
    assert backup in (list(result.get("backup_files", {}).values()) + [result.get("backup_file")])


def test_a_backup_of_a_key_that_was_group_readable_stays_within_the_new_mode(env):
    state = env("key", old=None)
    with open(state["key"], "w") as handle:
        handle.write(pem_pair(state["tmp"], "old")[1])
    os.chmod(state["key"], 0o640)
    write_pair(state, backup=True)
    backup = [name for name in os.listdir(os.path.dirname(state["key"])) if name.startswith("mx.key.")][0]
    assert stat.S_IMODE(os.stat(os.path.join(os.path.dirname(state["key"]), backup)).st_mode) == 0o600


@pytest.mark.parametrize("kind", [kind for kind in sorted(KINDS) if KINDS[kind][3]])
def test_no_backup_unless_asked(env, kind):
    state = env(kind)
    run(kind, state)
    assert not [name for name in os.listdir(os.path.dirname(state["path"])) if name.endswith("~")]


# --- what lies at the file's name -----------------------------------------------------------------------

@pytest.mark.parametrize("kind", REFUSING)
@pytest.mark.parametrize("odd", ["symlink", "fifo"])
def test_a_link_or_fifo_at_the_file_is_refused_and_nothing_changes(env, kind, odd):
    state = env(kind, old=None)
    victim = state["tmp"] / "victim"
    victim.write_bytes(OLD)
    os.chmod(str(victim), 0o600)
    if os.path.lexists(state["path"]):
        os.unlink(state["path"])
    if odd == "symlink":
        os.symlink(str(victim), state["path"])
    else:
        os.mkfifo(state["path"])
    before = files_of(os.path.dirname(state["path"]))
    with pytest.raises(PostfixError) as raised:
        run(kind, state)
    assert os.path.basename(state["path"]) in str(raised.value)
    assert files_of(os.path.dirname(state["path"])) == before
    assert victim.read_bytes() == OLD and stat.S_IMODE(victim.stat().st_mode) == 0o600


@pytest.mark.parametrize("kind", ["table", "loaded_record"])
def test_a_link_at_a_replaced_file_is_replaced_never_followed(env, kind):
    state = env(kind, old=None)
    victim = state["tmp"] / "victim"
    victim.write_bytes(OLD)
    os.symlink(str(victim), state["path"])
    run(kind, state)
    assert victim.read_bytes() == OLD and not os.path.islink(state["path"])
    assert stat.S_IMODE(os.stat(state["path"]).st_mode) == 0o600


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_hard_link_at_the_temporary_is_refused(env, kind):
    state = env(kind)
    victim = state["tmp"] / "victim"
    victim.write_bytes(OLD)
    os.link(str(victim), state["path"] + ".tmp")
    with pytest.raises(PostfixError) as raised:
        run(kind, state)
    assert "hard link" in str(raised.value) and victim.read_bytes() == OLD


# --- a crash between the temporary and the rename -------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_failed_rename_leaves_the_old_file_and_no_temporary(monkeypatch, env, kind):
    state = env(kind)
    before = files_of(os.path.dirname(state["path"]))

    def crash(source, target):
        raise OSError(errno.EIO, "Input/output error (the crash)")

    monkeypatch.setattr(files.os, "rename", crash)
    with pytest.raises(PostfixError):
        run(kind, state)
    monkeypatch.undo()
    assert files_of(os.path.dirname(state["path"])) == before


def test_a_writer_killed_before_the_rename_leaves_main_cf_and_the_next_run_writes(env, tmp_path):
    state = env("main.cf")
    before = open(state["path"], "rb").read()
    script = ("import os, sys\nfrom ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host import files\n"
              "files.rename_into_place = lambda *a, **k: os._exit(9)\n"
              "with files.EditLock(sys.argv[1]) as lock:\n"
              "    lock.write('killed\\n', files.FileAttributes(0o644, os.geteuid(), os.getegid()))\n"
              "    lock.commit()\n")
    killed = subprocess.run(["python3", "-c", script, state["path"]], capture_output=True, check=False,
                            env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in __import__("sys").path if p)))
    assert killed.returncode == 9, killed.stderr
    assert open(state["path"], "rb").read() == before
    write_main_cf(state)
    assert open(state["path"], "rb").read() == before + b"smtpd_tls_loglevel = 1\n"
    assert not os.path.lexists(state["path"] + ".tmp")


# --- SELinux: the old file's context, given to the new one before its first byte ------------------------

@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_old_files_selinux_context_is_given_to_the_new_one_before_its_first_byte(env, kind):
    state = env(kind)
    state["selinux"] = FakeSelinux()
    run(kind, state)
    events = state["selinux"].events
    path = state["path"]
    assert ("read", path) in events, events
    context = "system_u:object_r:old_t_%s:s0" % os.path.basename(path)
    assert ("label", path + ".tmp", context, 0) in events, events
    assert events.index(("read", path)) < events.index(("label", path + ".tmp", context, 0))


def test_certificates_and_keys_keep_their_context_as_main_cf_does(env):
    labelled = {}
    for kind in ("main.cf", "certificate", "key"):
        state = env(kind)
        state["selinux"] = FakeSelinux()
        run(kind, state)
        labelled[kind] = [event[1:3] for event in state["selinux"].events if event[0] == "label"]
    assert labelled["main.cf"] and labelled["certificate"] and labelled["key"]
    for kind, labels in labelled.items():
        assert all(path.endswith(".tmp") and "old_t_" + os.path.basename(path[:-4]) in context
                   for path, context in labels), (kind, labels)


def test_without_an_old_file_no_context_is_read_or_set(env):
    state = env("dane", old=None)
    state["selinux"] = FakeSelinux()
    write_own(state, "; TLSA\n", 0o644)
    assert [event for event in state["selinux"].events if event[0] == "label"] == []


@pytest.mark.parametrize("kind", ["hook", "dane"])
def test_a_file_of_ours_with_the_right_text_but_another_owner_is_taken_back(env, kind):
    # Root runs the hook: a user who owns it could rewrite it, whatever its text today.
    state = env(kind)
    text = "#!/usr/bin/python3\n" if kind == "hook" else "; TLSA\n"
    write_own(state, text, 0o700 if kind == "hook" else 0o644)
    os.chown(state["path"], 65534, 65534)
    module = FakeModule({}, state["tmp"])
    assert FileEditModule(module).write_own_file(state["path"], text, 0o700 if kind == "hook" else 0o644) is True
    found = os.stat(state["path"])
    assert (found.st_uid, found.st_gid) == (os.geteuid(), os.getegid())
    assert FileEditModule(module).write_own_file(state["path"], text, 0o700 if kind == "hook" else 0o644) is False
