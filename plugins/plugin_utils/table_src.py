# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action behind lookup_table and tls_policy: a table's ``src`` from the controller, sent as
ansible.builtin.copy sends a file (controller only).

Without ``src``, or with ``remote_src: true`` (the file is already on the managed host), the module
runs as it is. Otherwise the file is found as copy finds it (the role's or playbook's ``files/``),
refused unless it is a regular file, and put in Ansible's private temporary directory on the host:
0600 from its first byte (sent from a private copy, under umask 077), whatever the connection. The
module reads it there; the directory and the file go once the module returned, also when it failed.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase


def controller_problem(path):
    """Why ``path`` (found on the controller) cannot be sent as a table source, or None."""
    try:
        info = os.stat(path)
    except OSError as exc:
        return "cannot read %s: %s" % (path, exc.strerror or exc)
    if stat.S_ISDIR(info.st_mode):
        return "%s is a directory, not a table source" % path
    if not stat.S_ISREG(info.st_mode):
        return "%s is not a regular file (a FIFO, socket or device)" % path
    return None


def private_copy(path, directory):
    """A copy of ``path`` that only its owner can read, created 0600 before its first byte."""
    copy = os.path.join(directory, "source")
    fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out, open(path, "rb") as source:
        shutil.copyfileobj(source, out, 1 << 20)
    return copy


class TableSourceAction(ActionBase):
    """Subclasses name their module."""

    MODULE = None
    TRANSFERS_FILES = True
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(TableSourceAction, self).run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        src = args.get("src")
        try:
            remote_src = boolean(args.get("remote_src", False), strict=True)
        except TypeError as exc:
            return dict(result, failed=True, msg="remote_src: %s" % exc)
        if src is None or remote_src:
            result.update(self._execute_module(module_name=self.MODULE, module_args=args, task_vars=task_vars))
            return result
        if not isinstance(src, str) or not src:
            return dict(result, failed=True, msg="src: give the path of a file on the controller")
        try:
            found = self._find_needle("files", src)
        except AnsibleError as exc:
            return dict(result, failed=True, msg="src: %s not found on the controller: %s" % (src, to_text(exc)))
        problem = controller_problem(found)
        if problem:
            return dict(result, failed=True, msg="src: %s" % problem)
        try:
            args["src"] = self._send(found)
            args.pop("remote_src", None)
            result.update(self._execute_module(module_name=self.MODULE, module_args=args, task_vars=task_vars))
        finally:
            if self._connection._shell.tmpdir is not None:
                self._remove_tmp_path(self._connection._shell.tmpdir, force=True)
        return result

    def _send(self, found):
        """Put the controller's file in the host's private temporary directory; return its path there."""
        if self._connection._shell.tmpdir is None:
            self._make_tmp_path()
        remote = self._connection._shell.join_path(self._connection._shell.tmpdir, "source")
        scratch = tempfile.mkdtemp(prefix="mailtls-src-")
        umask = os.umask(0o077)  # the local connection creates the copy in this process
        try:
            self._transfer_file(private_copy(found, scratch), remote)
        finally:
            os.umask(umask)
            shutil.rmtree(scratch, ignore_errors=True)
        self._fixup_perms2((self._connection._shell.tmpdir, remote))
        return remote
