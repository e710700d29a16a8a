# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading a table's ``src`` on the managed host (private to the collection).

The file is either the temporary the action plug-in transferred (in Ansible's private directory) or,
with ``remote_src``, one already on the host. Only a regular file is read: never through a symbolic
link, never blocking on a FIFO, and its bytes must be UTF-8. Nothing here shows a byte of the file.
"""

from __future__ import annotations

import errno
import os
import stat

from ..core.errors import InputError

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def read_source(path, where="src"):
    """The text of the regular file ``path``; raise InputError naming ``where`` otherwise."""
    if not os.path.isabs(path):
        raise InputError(where, "%r is not an absolute path on the managed host" % path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | _CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            raise InputError(where, "%s is a symbolic link; give the file itself" % path)
        if exc.errno == errno.ENOENT:
            raise InputError(where, "%s does not exist on the managed host" % path)
        raise InputError(where, "cannot read %s: %s" % (path, exc.strerror or exc))
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise InputError(where, "%s is a directory, not a table source" % path)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(where, "%s is not a regular file (a FIFO, socket or device)" % path)
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    return decoded(b"".join(chunks), path, where)


def decoded(data, path, where="src"):
    """``data`` as text; raise InputError naming the first line that is not UTF-8 (never its bytes)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(where, "line %d of %s is not UTF-8; save the file as UTF-8" % (line, path))
