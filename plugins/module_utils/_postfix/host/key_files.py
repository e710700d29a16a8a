# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The key and certificate files on disk: looked at, read, and installed as pairs (private).

A file the run only reads is read as Postfix reads it (through a link: Let's Encrypt's live/
names are links); a file the run may replace is never read or written through a link. Pairs
are installed through the one writer (``EditLock.write`` then ``commit``): every temporary is
locked and written first (mode, owner and SELinux context before the first byte, a backup when
asked), then all are renamed back to back, so a refusal or failure leaves the live pairs as
they were.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

from ..core.errors import ConfigError
from ..core.file_names import TMP_SUFFIX
from ..model.certificate_facts import PARENT_DIR_MODE
from .files import ENCODING, ERRORS, REFUSE, EditLock, FileAttributes, open_regular


def lstat_of(path, parameter):
    """What lies at ``path`` (not followed), or None when nothing does."""
    try:
        return os.lstat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise ConfigError("%s: cannot look at %s: %s" % (parameter, path, exc.strerror), path=path)


def exists(path, parameter):
    """Whether something is at ``path``; anything but a file or a link to one is refused."""
    found = lstat_of(path, parameter)
    if found is None:
        return False
    if stat.S_ISLNK(found.st_mode):
        try:
            found = os.stat(path)
        except OSError:
            raise ConfigError("%s: %s is a dangling symbolic link; nothing was changed" % (parameter, path),
                              path=path)
    if not stat.S_ISREG(found.st_mode):
        raise ConfigError("%s: %s is not a regular file (a directory, FIFO, socket or device); nothing was "
                          "changed" % (parameter, path), path=path)
    return True


def refuse_exposed_key(key_file, parameter):
    """An existing key that other users can read (or write) is refused, whatever the run would do."""
    mode = stat.S_IMODE(os.stat(key_file).st_mode)
    if mode & 0o007:
        raise ConfigError("%s: the private key %s has mode %04o, so users other than its owner and group "
                          "can read it (consider it exposed); make it 0600 (or 0640 for a trusted group) and "
                          "replace the key if others may have read it; nothing was changed"
                          % (parameter, key_file, mode), path=key_file)


def _read(path, parameter, flags):
    try:
        fd, _info = open_regular(path, os.O_RDONLY | flags)
    except ConfigError as exc:
        raise ConfigError("%s: %s; nothing was changed" % (parameter, exc), path=path)
    except OSError as exc:
        raise ConfigError("%s: cannot read %s: %s; nothing was changed" % (parameter, path, exc.strerror),
                          path=path)
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def read_existing(path, parameter):
    """A file the run only reads: Postfix follows a link (Let's Encrypt's live/ names are links), so do we."""
    if lstat_of(path, parameter) is None:
        raise ConfigError("%s: %s does not exist; give cert_content and key_content, set self_signed, or "
                          "install the files first; nothing was changed" % (parameter, path), path=path)
    return _read(path, parameter, 0).decode(ENCODING, ERRORS)


def current(path, parameter):
    """The bytes of a file the run may replace, or None; a link there is refused, never followed."""
    found = lstat_of(path, parameter)
    if found is None:
        return None
    if stat.S_ISLNK(found.st_mode):
        raise ConfigError("%s: %s is a symbolic link; refusing to replace it (give the path it points to); "
                          "nothing was changed" % (parameter, path), path=path)
    return _read(path, parameter, os.O_NOFOLLOW)


def refuse_odd_temporary(path):
    """The lock file Postfix's editor uses must be a plain file or absent: check mode predicts the refusal."""
    found = lstat_of(path + TMP_SUFFIX, "file")
    if found is not None and not stat.S_ISREG(found.st_mode):
        raise ConfigError("%s%s is a symbolic link or not a regular file; refusing to write through it; "
                          "nothing was changed" % (path, TMP_SUFFIX), path=path + TMP_SUFFIX)


def attributes_for(path, mode, gid):
    """Owned by us (root), the module's mode; the group is key_group, else the file's own, else ours."""
    if gid is None:
        gid = FileAttributes.of(path, mode).gid
    return FileAttributes(mode, os.geteuid(), gid)


def make_directory(directory, mode):
    """Create a missing directory (and missing parents, 0755); an existing one is never changed."""
    if not directory or os.path.lexists(directory):
        return
    make_directory(os.path.dirname(directory), PARENT_DIR_MODE)
    try:
        os.mkdir(directory, 0o700)
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            return  # made meanwhile by someone else: theirs, left alone
        raise ConfigError("cannot create the directory %s: %s" % (directory, exc.strerror), path=directory)
    # mkdir's mode is cut by the umask; set it on the directory we made, never through a link.
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def install(writes, backup=False, selinux=None):
    """Lock and write every temporary first, then rename them back to back; return {path: backup}.

    ``writes`` is (path, text, attributes, parameter) of each file; a file whose bytes already
    are the text once locked is left alone.
    """
    backups = {}
    with contextlib.ExitStack() as stack:
        locks = []
        for path, text, attributes, parameter in writes:
            lock = stack.enter_context(EditLock(path))
            if current(path, parameter) != text.encode(ENCODING, ERRORS):
                locks.append((lock, text, attributes))
        for lock, text, attributes in locks:
            saved = lock.write(text, attributes, backup=backup, selinux=selinux, odd_target=REFUSE)
            if saved:
                backups[lock.path] = saved
        for lock, _text, _attributes in locks:
            lock.commit()
    return backups
