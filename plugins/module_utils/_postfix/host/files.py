# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading and atomically replacing Postfix's files (private to the collection).

Writers lock the way Postfix's own editor does (edit_file(3)): open
``FILE.tmp``, take an exclusive flock on it, make sure the locked file is
still the one at that name, write it, then rename it over ``FILE``. A
concurrent ``postconf -e`` and a concurrent run of our modules therefore wait
for each other instead of losing an edit, and a crash mid-write leaves the
original file in place.

The temporary is never reached through a link and is always a plain file of
ours: it is created with O_EXCL and mode 0600, opened with O_NOFOLLOW, and
refused when it is a FIFO, a device, a hard link or someone else's. It gets
the final mode and owner before the first byte of the new text is written, so
a secret table is never readable by others, not even for a moment.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time

from ..core.errors import ConfigError
from ..core.file_names import TMP_SUFFIX

ENCODING = "utf-8"
# Bytes that are not UTF-8 (a Latin-1 comment, say) survive a round trip.
ERRORS = "surrogateescape"
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class FileAttributes(object):
    """The mode and owner a written file ends up with."""

    __slots__ = ("mode", "uid", "gid")

    def __init__(self, mode, uid, gid):
        self.mode, self.uid, self.gid = mode, uid, gid

    @classmethod
    def of(cls, path, default_mode):
        """The attributes of ``path``, or ``default_mode`` owned by us when it does not exist."""
        try:
            found = os.stat(path)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise ConfigError("cannot stat %s: %s" % (path, exc.strerror), path=path)
            return cls(default_mode, os.geteuid(), os.getegid())
        return cls(stat.S_IMODE(found.st_mode), found.st_uid, found.st_gid)

    def apply(self, fd):
        """Give an open file these attributes (owner first: chown clears set-id bits)."""
        current = os.fstat(fd)
        if (current.st_uid, current.st_gid) != (self.uid, self.gid):
            os.fchown(fd, self.uid, self.gid)
        os.fchmod(fd, self.mode)


def open_regular(path, flags=os.O_RDONLY):
    """Open ``path``; raise ConfigError unless it is a regular file (never blocks on a FIFO).

    A file it creates is created 0600.
    """
    try:
        fd = os.open(path, flags | os.O_NONBLOCK | _CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            raise ConfigError("%s is a symbolic link; refusing to write through it" % path, path=path)
        if exc.errno == errno.ENXIO:
            raise ConfigError("%s is not a regular file (a FIFO or socket)" % path, path=path)
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise ConfigError("%s is not a regular file" % path, path=path)
    return fd, info


def read_bytes(path):
    """Return the bytes of the regular file ``path``; raise ConfigError naming the path otherwise."""
    try:
        fd, _info = open_regular(path, os.O_RDONLY)
    except (IOError, OSError) as exc:
        raise ConfigError("cannot read %s: %s" % (path, exc.strerror or exc), path=path)
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def read_text(path):
    """Return the text of ``path`` (non-UTF-8 bytes kept as surrogates)."""
    return read_bytes(path).decode(ENCODING, ERRORS)


def write_new_file(path, text, mtime=None):
    """Write a scratch file in a private directory (no locking); optionally set its mtime."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(text.encode(ENCODING, ERRORS))
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def remove_leftover(path):
    """Remove what another writer left at ``path`` once it is done with it.

    A writer that still works on the file holds an flock on it (see
    ``hold``): wait for it. A link, FIFO or crash leftover is removed, not
    followed.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | _CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return
        fd = None  # a link or something we cannot open: just remove it
    if fd is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                if not os.path.samestat(os.fstat(fd), os.lstat(path)):
                    return  # its writer renamed it into place meanwhile
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    return
                raise
        finally:
            os.close(fd)
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise ConfigError("cannot remove the leftover %s: %s" % (path, exc.strerror), path=path)


def hold(path):
    """Open ``path`` (a plain file we just made) and flock it; return the descriptor to close later."""
    fd, _info = open_regular(path, os.O_RDONLY | os.O_NOFOLLOW)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _foreign(info, path):
    """The error for a temporary that is a hard link or someone else's file, else None."""
    if info.st_nlink != 1 or info.st_uid != os.geteuid():
        return ConfigError("%s is a hard link or belongs to another user; refusing to write to it" % path,
                           path=path)
    return None


def backup_copy(path, attributes):
    """Copy ``path`` beside itself as Ansible names backups (``FILE.PID.DATE~``); return the copy's path.

    Unlike AnsibleModule.backup_local, the copy is private from its creation on: it is owned as
    the old file was and readable by no one the old file or its replacement (``attributes``)
    keeps out, so a backup of a secret is never more open than the secret. The old file is read
    without following a link; anything but a plain file there gets no backup (None).
    """
    try:
        fd, source = open_regular(path, os.O_RDONLY | os.O_NOFOLLOW)
    except (ConfigError, OSError):
        return None
    with os.fdopen(fd, "rb") as handle:
        data = handle.read()
    kept = FileAttributes(stat.S_IMODE(source.st_mode) & attributes.mode & 0o777, source.st_uid, source.st_gid)
    stem = "%s.%d.%s" % (path, os.getpid(), time.strftime("%Y-%m-%d@%H:%M:%S", time.localtime()))
    for attempt in range(100):
        # A name taken (a second backup in the same second, or a link there): the next one, never followed.
        backup = stem + ("~" if not attempt else ".%d~" % attempt)
        try:
            fd = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _CLOEXEC, 0o600)
            break
        except OSError as exc:
            if exc.errno != errno.EEXIST or attempt == 99:
                raise ConfigError("cannot create the backup %s: %s; the original file is unchanged"
                                  % (backup, exc.strerror), path=path)
    try:
        kept.apply(fd)
        _write_all(fd, data)
    finally:
        os.close(fd)
    os.utime(backup, ns=(source.st_atime_ns, source.st_mtime_ns))
    return backup


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# What the one writer does with something other than a plain file at the name it replaces.
REFUSE, REPLACE = "refuse", "replace"


def check_target(path, odd_target=REFUSE):
    """Refuse a symbolic link, FIFO, socket, device or directory at ``path`` (never written through).

    With ``odd_target=REPLACE`` a link or special file is replaced by the rename (the entry,
    never its target); a directory is refused in any case.
    """
    try:
        found = os.lstat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise ConfigError("cannot look at %s: %s" % (path, exc.strerror), path=path)
    if stat.S_ISREG(found.st_mode):
        return found
    if stat.S_ISDIR(found.st_mode) or odd_target != REPLACE:
        kind = "a symbolic link" if stat.S_ISLNK(found.st_mode) else "not a regular file"
        raise ConfigError("%s is %s; refusing to replace it; the original file is unchanged" % (path, kind),
                          path=path)
    return None


class Selinux(object):
    """The SELinux context a replaced file keeps, through AnsibleModule's own selinux methods.

    A renamed temporary would get its directory's default context: the context the old file had
    is read first and given to the temporary before its first byte, as AnsibleModule.atomic_move
    does. Without SELinux (or without an old file) nothing is done.
    """

    def __init__(self, module):
        self.module = module

    def context_of(self, path):
        if not self.module.selinux_enabled() or not os.path.lexists(path):
            return None
        return self.module.selinux_context(path)

    def label(self, path, context):
        if context is not None:
            self.module.set_context_if_different(path, context, False)


class EditLock(object):
    """Exclusive edit of one file, interoperable with Postfix's edit_file(3).

    Use as a context manager; inside it, read the file, then call
    ``replace(text)`` at most once (or ``write`` and ``commit``). Leaving
    without committing removes the lock file, so a no-op or failed edit
    leaves nothing behind.
    """

    def __init__(self, path):
        self.path = path
        self.tmp_path = path + TMP_SUFFIX
        self.fd = None

    def refusal(self):
        """Check mode: the error ``__enter__`` would raise for what lies at the temporary's name, or None."""
        try:
            found = os.lstat(self.tmp_path)
        except OSError:
            return None
        if stat.S_ISLNK(found.st_mode):
            return ConfigError("%s is a symbolic link; refusing to write through it" % self.tmp_path)
        if not stat.S_ISREG(found.st_mode):
            return ConfigError("%s is not a regular file" % self.tmp_path)
        return _foreign(found, self.tmp_path)

    def _open(self):
        """Create the temporary (or open another writer's), refusing anything but a plain file of ours.

        Returns (fd, created), or (None, False) when the other writer's file went meanwhile.
        """
        flags = os.O_WRONLY | os.O_NOFOLLOW
        try:
            fd, info = open_regular(self.tmp_path, flags | os.O_CREAT | os.O_EXCL)
            created = True
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise ConfigError("cannot create %s: %s" % (self.tmp_path, exc.strerror), path=self.tmp_path)
            try:
                fd, info = open_regular(self.tmp_path, flags)
                created = False
            except OSError as again:
                if again.errno == errno.ENOENT:
                    return None, False  # the other writer renamed it meanwhile: try again
                raise ConfigError("cannot open %s: %s" % (self.tmp_path, again.strerror), path=self.tmp_path)
        if info.st_nlink == 0:
            os.close(fd)
            return None, False  # another writer removed it between our open and fstat: try again
        problem = _foreign(info, self.tmp_path)
        if problem:
            os.close(fd)
            raise problem
        return fd, created

    def __enter__(self):
        while True:
            fd, created = self._open()
            if fd is None:
                continue
            fcntl.flock(fd, fcntl.LOCK_EX)
            # Another writer may have renamed the file we locked into place meanwhile.
            try:
                same = os.path.samestat(os.fstat(fd), os.lstat(self.tmp_path))
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    os.close(fd)
                    raise
                same = False
            if same and not created:
                # A crashed writer's leftover, which anyone may have opened while it was readable:
                # our bytes go to a new file. (Postfix's own writers find the inode changed and retry.)
                os.unlink(self.tmp_path)
                same = False
            if same:
                self.fd = fd
                return self
            os.close(fd)

    def write(self, text, attributes, backup=False, selinux=None, odd_target=REPLACE):
        """Write ``text`` (str or bytes) into the locked temporary; return the backup's path, or None.

        In this order: what lies at the file's own name is checked (``check_target``); the old
        file is copied aside when ``backup`` is asked (``backup_copy``); the temporary gets
        ``attributes`` (owner, then mode) and the old file's SELinux context (``selinux``, a
        ``Selinux``) before the first byte; then the bytes, flushed to disk. Nothing is renamed
        yet: ``commit`` does that, so several files can be written before any is replaced.
        """
        data = text if isinstance(text, bytes) else text.encode(ENCODING, ERRORS)
        check_target(self.path, odd_target)
        saved = backup_copy(self.path, attributes) if backup else None
        context = selinux.context_of(self.path) if selinux is not None else None
        try:
            os.ftruncate(self.fd, 0)  # always a new file (see __enter__); nothing to keep in any case
            attributes.apply(self.fd)
            if context is not None:
                selinux.label(self.tmp_path, context)
            _write_all(self.fd, data)
            os.fsync(self.fd)
        except OSError as exc:
            raise ConfigError("cannot write %s: %s; the original file is unchanged"
                              % (self.tmp_path, exc.strerror or exc), path=self.path)
        return saved

    def commit(self, unsafe_writes=False):
        """Rename the written temporary over the original (``rename_into_place``) and release the lock."""
        rename_into_place(self.tmp_path, self.path, unsafe_writes)
        self._close()

    def replace(self, text, attributes, unsafe_writes=False, **options):
        """The whole commit step of one file: ``write`` (``options``: backup, selinux, odd_target), then
        ``commit``. Returns the backup's path, or None."""
        saved = self.write(text, attributes, **options)
        self.commit(unsafe_writes)
        return saved

    def _close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __exit__(self, exc_type, exc, traceback):
        if self.fd is not None:
            # Not replaced: drop our lock file while we still hold the lock.
            try:
                os.unlink(self.tmp_path)
            except OSError:
                pass
            self._close()
        return False


def rename_into_place(temporary, path, unsafe_writes=False):
    """The one rename of the collection: ``temporary`` over ``path``, then the directory flushed.

    Every file the collection writes reaches its name here, after it was written in full (a
    crash before leaves the old file; after, the new one). A file that is a mount point (a
    bind-mounted main.cf in a container) cannot be renamed over (EBUSY); with
    ``unsafe_writes``, as Ansible's own option means, its bytes are then written in place,
    still under the caller's lock.
    """
    try:
        os.rename(temporary, path)
    except OSError as exc:
        if not (unsafe_writes and exc.errno == errno.EBUSY):
            hint = " (a mount point: unsafe_writes=true writes it in place)" if exc.errno == errno.EBUSY else ""
            raise ConfigError("cannot replace %s: %s%s; the original file is unchanged"
                              % (path, exc.strerror or exc, hint), path=path)
        _write_in_place(temporary, path)
        os.unlink(temporary)
    sync_directory(os.path.dirname(path) or ".")


def _write_in_place(temporary, path):
    """Copy the temporary's bytes into the original (opened without following a link)."""
    fd, _info = open_regular(temporary, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read()
    fd, _info = open_regular(path, os.O_WRONLY | os.O_NOFOLLOW)
    try:
        os.ftruncate(fd, 0)
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_directory(directory):
    """Flush a directory, so that a rename in it survives a crash (a file system that cannot: skipped)."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EROFS, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def install_index(temporary, index):
    """Move an index postmap built at a temporary name (ours, locked by its table) into place.

    The temporary must be a plain file of ours with one link (postmap made it; nothing planted).
    """
    found = os.lstat(temporary)
    if not stat.S_ISREG(found.st_mode):
        raise ConfigError("%s is not a regular file; refusing to install it" % temporary, path=index)
    problem = _foreign(found, temporary)
    if problem:
        raise problem
    check_target(index, REPLACE)
    rename_into_place(temporary, index)


def same_file_name(path, other):
    """Whether two paths name one file: their directories resolved (links included), names compared.

    The file itself may not exist yet, and a link in its place is refused elsewhere.
    """
    def canonical(name):
        return os.path.join(os.path.realpath(os.path.dirname(os.path.abspath(name))), os.path.basename(name))

    return canonical(path) == canonical(other)


def index_is_fresh(source, index_paths):
    """Whether every index file of a table exists and is not older than its source (as postmap leaves them)."""
    try:
        source_time = os.stat(source).st_mtime
        return all(os.stat(index).st_mtime >= source_time for index in index_paths)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise


def file_identity(path):
    """What tells us a file was replaced or rewritten since we read it; None when it does not exist."""
    try:
        found = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise
    return (found.st_ino, found.st_size, found.st_mtime_ns)
