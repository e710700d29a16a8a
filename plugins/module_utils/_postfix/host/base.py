# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The flow every file-editing module shares (private to the collection).

compute the new text (pure) -> diff -> validate -> lock, re-read, recompute
-> backup -> atomic replace -> file attributes. Check mode runs all of it but
the lock and what follows; a no-op run opens nothing for writing.
"""

from __future__ import annotations

import errno
import gc
import grp
import os
import pwd
import re
import stat
from dataclasses import dataclass, field

from .commands import Postfix
from ..core.errors import ConfigError, InputError, PostfixError
from ..model.certificate_facts import KEY_HIDDEN, PRIVATE_KEY_BLOCK
from .files import (REFUSE, REPLACE, EditLock, FileAttributes, Selinux, check_target, file_identity, open_regular,
                    read_text)


class PostfixModule(object):
    """Base for the collection's modules: Postfix's tools, a result, warnings.

    Read-only modules (postfix_info, tls_probe) use it as it is; subclasses implement ``execute()``.
    """

    def __init__(self, module):
        self.module = module
        self.postfix = Postfix(module.get_bin_path, module.run_command)
        self.result = {"changed": False}
        self.warnings = []

    def execute(self):
        raise NotImplementedError

    def echoed_arguments(self):
        """The arguments the result echoes in ``invocation``; modules with secrets mask them.

        A private key is never echoed, whatever option holds it (a key given as cert_content).
        """
        return redact_private_keys(summarized_arguments(self.module.params))


class TextPlan(object):
    """One planned edit of a whole-text file (main.cf, master.cf)."""

    __slots__ = ("identity", "original", "new_text", "info")

    def __init__(self, identity, original, new_text, info):
        self.identity, self.original, self.new_text, self.info = identity, original, new_text, info

    @property
    def needs_work(self):
        return self.new_text != self.original


class FileEditModule(PostfixModule):
    """Base for the modules that edit Postfix's files: the one edit flow."""

    def locked_edit(self, path, plan, commit, rehearse=None, odd_target=REPLACE):
        """The one write flow of every file the collection edits; return the plan that held.

        ``plan()`` reads the file and decides (its result has ``identity`` and ``needs_work``);
        ``commit(lock, planned)`` writes under Postfix's edit lock. Check mode runs ``rehearse``
        and refuses what taking the lock would refuse; a file changed between the plan and the
        lock is planned again under the lock, so another writer's edit is kept. ``odd_target`` is
        what check mode predicts of a link or FIFO at ``path`` (``files.check_target``).
        """
        planned = plan()
        if not planned.needs_work:
            return planned
        if self.module.check_mode:
            if rehearse:
                rehearse(planned)
            refuse_as_the_run_would(path, odd_target)
            return planned
        with EditLock(path) as lock:
            if file_identity(path) != planned.identity:
                planned = plan()
            if planned.needs_work:
                commit(lock, planned)
        return planned

    def edit_file(self, path, compute, validate=None):
        """Edit ``path`` so that it holds ``compute(text)[0]``; return ``(changed, info)``.

        ``compute`` is pure: text -> (new_text, info). ``validate(new_text,
        info)`` raises if Postfix disagrees with the new text; it runs before
        anything is written, also in check mode.
        """
        def plan():
            identity = file_identity(path)
            original = read_text(path)
            new_text, info = compute(original)
            planned = TextPlan(identity, original, new_text, info)
            if planned.needs_work and validate:
                validate(new_text, info)
            return planned

        def commit(lock, planned):
            saved = self.write_under_lock(lock, planned.new_text, self.wanted_attributes(path))
            if saved:
                self.result["backup_file"] = saved

        planned = self.locked_edit(path, plan, commit, odd_target=REFUSE)
        if planned.needs_work and self.module._diff:
            self.result.setdefault("diff", []).append({
                "before": planned.original, "after": planned.new_text,
                "before_header": path, "after_header": path,
            })
        return self._set_attributes(path, planned.needs_work), planned.info

    def write_under_lock(self, lock, text, attributes, odd_target=REFUSE, backup=None):
        """The commit step of every file a module writes (``EditLock.replace``): the module's backup
        option, the old file's SELinux context, ``unsafe_writes``; a link or FIFO at the file's name
        is refused (``odd_target``). Returns the backup's path, or None."""
        params = self.module.params
        return lock.replace(text, attributes, params.get("unsafe_writes", False),
                            backup=params.get("backup") if backup is None else backup,
                            selinux=Selinux(self.module), odd_target=odd_target)

    def write_whole_file(self, path, text, attributes, odd_target=REFUSE):
        """A whole small file of ours (DANE records, the renewal hook, a record): the one write flow.

        Returns whether it changed. With ``odd_target=REPLACE`` a link or FIFO at ``path`` is
        replaced (never read or written through); else it is refused.
        """
        def plan():
            return TextPlan(file_identity(path), current_text(path, odd_target), text, None)

        def commit(lock, _planned):
            self.write_under_lock(lock, text, attributes, odd_target, backup=False)

        planned = self.locked_edit(path, plan, commit, odd_target=odd_target)
        if planned.needs_work and self.module._diff:
            self.result.setdefault("diff", []).append({"before": planned.original or "", "after": text,
                                                       "before_header": path, "after_header": path})
        return planned.needs_work

    def write_own_file(self, path, text, mode, odd_target=REFUSE):
        """A small file of ours (owned by us, ``mode``): written when its text differs, else given its owner
        and mode back (root runs the hook: a file another user owns could be rewritten by that user).
        Returns whether it changed (in check mode: would)."""
        uid, gid = os.geteuid(), os.getegid()
        if self.write_whole_file(path, text, FileAttributes(mode, uid, gid), odd_target):
            return True
        fd, found = open_regular(path, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            if stat.S_IMODE(found.st_mode) == mode and (found.st_uid, found.st_gid) == (uid, gid):
                return False
            if not self.module.check_mode:
                os.fchown(fd, uid, gid)  # owner first: chown clears set-id bits the mode may set
                os.fchmod(fd, mode)
        finally:
            os.close(fd)
        return True

    def remove_own_file(self, path):
        """Delete a file this call wrote and must take back (a refusal's way back); a link there is removed
        itself, never what it points to."""
        if not self.module.check_mode and os.path.lexists(path):
            os.unlink(path)

    def wanted_attributes(self, path, default_mode=0o644):
        """The mode and owner ``path`` must have once written: the module's file options, else its own."""
        attributes = FileAttributes.of(path, default_mode)
        params = self.module.params
        if params.get("mode") is not None:
            attributes.mode = mode_bits(self.module, params["mode"], attributes.mode)
        if params.get("owner"):
            attributes.uid = account_id(params["owner"], pwd.getpwnam, "owner")
        if params.get("group"):
            attributes.gid = account_id(params["group"], grp.getgrnam, "group")
        return attributes

    def _set_attributes(self, path, changed):
        file_args = self.module.load_file_common_arguments(self.module.params, path=path)
        return self.module.set_fs_attributes_if_different(file_args, changed)


def current_text(path, odd_target=REFUSE):
    """The text of a file about to be replaced, None when absent; never read through a link.

    Something other than a plain file there is refused, or with ``REPLACE`` taken as absent.
    """
    try:
        fd, _info = open_regular(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise ConfigError("cannot read %s: %s" % (path, exc.strerror), path=path)
    except ConfigError:
        if odd_target == REPLACE:
            return None
        raise
    with os.fdopen(fd, "rb") as handle:
        return handle.read().decode("utf-8", "surrogateescape")


def refuse_as_the_run_would(path, odd_target=REFUSE):
    """Check mode: raise what taking the edit lock on ``path`` and writing it would raise, so the check
    predicts the run (a link or FIFO at the temporary's name, or at ``path`` itself: ``check_target``)."""
    check_target(path, odd_target)
    refusal = EditLock(path).refusal()
    if refusal:
        raise refusal


@dataclass
class FileWrite(object):
    """A small file of a side's (DANE or MTA-STS records, the hook), for the coordinator to write through
    ``write_own_file``: ``result[section][flag]`` says if it changed."""

    path: str
    text: str
    mode: int
    section: str = None
    flag: str = None
    odd_target: str = REFUSE


@dataclass
class ReceivingPart(object):
    """What one phase of the side hands back: result parts by name (``result``; ``parts``: a part's
    result, its diff joining the call's), warnings, files to write, whether something changed."""

    result: dict = field(default_factory=dict)
    parts: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    writes: list = field(default_factory=list)
    changed: bool = False


def check_new_file(path, where):
    """A file a side writes after main.cf: an absolute path in an existing directory, no link or FIFO there."""
    if not os.path.isabs(path):
        raise InputError(where, "%r is not an absolute path" % path)
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise InputError(where, "the directory %s does not exist" % directory)
    # Written after main.cf: a link or FIFO at its name or its temporary is refused now, before the first
    # write, naming the option that points there.
    try:
        refuse_as_the_run_would(path, REFUSE)
    except PostfixError as error:
        raise InputError(where, str(error))


def redact_private_keys(value):
    """``value`` (arguments, at any depth) with every private-key block replaced by one line."""
    if isinstance(value, dict):
        return dict((key, redact_private_keys(item)) for key, item in value.items())
    if isinstance(value, list):
        return [redact_private_keys(item) for item in value]
    if isinstance(value, str) and "PRIVATE KEY-----" in value:
        return PRIVATE_KEY_BLOCK.sub(KEY_HIDDEN, value)
    return value


def private_key_in_arguments():
    """Whether an argument holds a private key, read before AnsibleModule logs its arguments to syslog.

    key_content is no_log; a key given in another option (key and certificate swapped) must
    not reach that log line either: AnsibleModule(no_log=True) then skips it.
    """
    from ansible.module_utils.basic import _load_params

    def holds_key(value):
        if isinstance(value, dict):
            return any(holds_key(item) for item in value.values())
        if isinstance(value, list):
            return any(holds_key(item) for item in value)
        return isinstance(value, str) and "PRIVATE KEY-----" in value

    try:
        params = dict(_load_params())
    except Exception:  # unreadable arguments: AnsibleModule reports that itself
        return False
    return holds_key(params)


def secret_in_arguments(option="secret"):
    """Whether the task sets ``option``, read before AnsibleModule logs its arguments to syslog.

    AnsibleModule(no_log=...) is the only way to keep a secret out of that log line.
    """
    from ansible.module_utils.basic import _load_params
    from ansible.module_utils.parsing.convert_bool import boolean

    try:
        return boolean(_load_params().get(option, False), strict=False)
    except Exception:  # unreadable arguments: AnsibleModule reports that itself
        return False


class _ModeOf(object):
    """What AnsibleModule's symbolic-mode parser reads of a stat result."""

    def __init__(self, mode):
        self.st_mode = stat.S_IFREG | mode


def mode_bits(module, mode, current):
    """A file mode as Ansible's ``mode`` option gives it (octal text, number or symbolic) -> bits."""
    if isinstance(mode, int):
        return mode
    if re.fullmatch(r"[0-7]+", str(mode)):
        return int(str(mode), 8)
    try:
        return module._symbolic_mode_to_octal(_ModeOf(current), str(mode))
    except Exception as exc:  # Ansible raises ValueError or its own error types here
        raise InputError("mode", "%r is not a file mode: %s" % (mode, exc))


def account_id(name, lookup, where):
    """A user (``lookup`` pwd.getpwnam) or group (grp.getgrnam) given by name or number -> its id."""
    if str(name).isdigit():
        return int(name)
    user = lookup is pwd.getpwnam
    try:
        return getattr(lookup(str(name)), "pw_uid" if user else "gr_gid")
    except KeyError:
        raise InputError(where, "%s %r does not exist on this host" % ("user" if user else "group", name))


def reportable(value):
    """``value`` with every text made valid UTF-8, so any result can be reported.

    Postfix's files are bytes; bytes that are not UTF-8 come in as surrogates
    and go out as ``\\xNN`` escapes (Ansible refuses to deserialize the raw bytes).
    """
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            try:
                raw = value.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:
                raw = value.encode("utf-8", "backslashreplace")
            return raw.decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        return dict((reportable(key), reportable(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        if all(isinstance(item, str) for item in value):
            try:  # one check for a list of 100,000 keys that are all well-formed
                "".join(value).encode("utf-8")
                return list(value)
            except UnicodeEncodeError:
                pass
        return [reportable(item) for item in value]
    return value


def run_module(module, module_class):
    """Run ``module_class(module).execute()`` and report, turning our errors into fail_json."""
    # A module is one short process whose objects (100,000 table entries and their parsed
    # arguments) live until it exits: the cycle collector walking them again and again doubled
    # its own time and would free next to nothing. Reference counting still frees the rest.
    gc.disable()
    runner = module_class(module)
    try:
        runner.execute()
    except PostfixError as exc:
        # fail_json would echo every argument unless given the echo: secrets stay masked here too.
        module.fail_json(msg=reportable(str(exc)), invocation={"module_args": runner.echoed_arguments()},
                         **reportable(_fail_details(exc)))
    for warning in runner.warnings:
        module.warn(reportable(warning))
    invocation = {"module_args": runner.echoed_arguments()}
    module.exit_json(invocation=invocation, **reportable(runner.result))


# Ansible echoes every argument back in ``invocation``; for a 100,000-entry table
# that echo costs more than the edit. Larger collections are echoed as a count.
ECHO_LIMIT = 1000


def summarized_arguments(params):
    """Module arguments for the result's ``invocation``, big collections (at any depth) replaced by a count."""
    def summarized(value):
        if isinstance(value, (list, dict)) and len(value) > ECHO_LIMIT:
            return "(%d items, not echoed)" % len(value)
        if isinstance(value, dict):
            return dict((key, summarized(item)) for key, item in value.items())
        if isinstance(value, list):
            return [summarized(item) for item in value]
        return value

    return summarized(dict(params))


def _fail_details(exc):
    return dict((key, value) for key, value in exc.details.items() if key != "msg")
