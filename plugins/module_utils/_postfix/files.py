# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading and atomically replacing Postfix's files (private to the collection).

Writers lock the way Postfix's own editor does (edit_file(3)): open
``FILE.tmp``, take an exclusive flock on it, make sure the locked file is
still the one at that name, write it, then rename it over ``FILE``. A
concurrent ``postconf -e`` and a concurrent run of our modules therefore wait
for each other instead of losing an edit, and a crash mid-write leaves the
original file in place.
"""

from __future__ import annotations

import errno
import fcntl
import os

from .errors import ConfigError

ENCODING = "utf-8"
# Bytes that are not UTF-8 (a Latin-1 comment, say) survive a round trip.
ERRORS = "surrogateescape"
TMP_SUFFIX = ".tmp"


def read_text(path):
    """Return the text of ``path``; raise ConfigError naming the path if it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return handle.read().decode(ENCODING, ERRORS)
    except (IOError, OSError) as exc:
        raise ConfigError("cannot read %s: %s" % (path, exc.strerror or exc), path=path)


def write_new_file(path, text, mtime=None):
    """Write a scratch file (no locking); optionally set its mtime."""
    with open(path, "wb") as handle:
        handle.write(text.encode(ENCODING, ERRORS))
    if mtime is not None:
        os.utime(path, (mtime, mtime))


class EditLock(object):
    """Exclusive edit of one file, interoperable with Postfix's edit_file(3).

    Use as a context manager; inside it, read the file, then call
    ``replace(text)`` at most once. Leaving without ``replace`` removes the
    lock file, so a no-op or failed edit leaves nothing behind.
    """

    def __init__(self, path):
        self.path = path
        self.tmp_path = path + TMP_SUFFIX
        self.fd = None

    def __enter__(self):
        while True:
            try:
                fd = os.open(self.tmp_path, os.O_CREAT | os.O_WRONLY, 0o600)
            except OSError as exc:
                raise ConfigError("cannot create %s: %s" % (self.tmp_path, exc.strerror), path=self.tmp_path)
            fcntl.flock(fd, fcntl.LOCK_EX)
            # Another writer may have renamed the file we locked into place meanwhile.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.tmp_path))
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    os.close(fd)
                    raise
                same = False
            if same:
                self.fd = fd
                return self
            os.close(fd)

    def write(self, text, new_file_mode=0o644):
        """Write ``text`` into the locked temp file, with the original's mode and owner."""
        data = text.encode(ENCODING, ERRORS)
        try:
            try:
                original = os.stat(self.path)
                mode, owner = original.st_mode & 0o7777, (original.st_uid, original.st_gid)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise
                mode, owner = new_file_mode, (os.geteuid(), os.getegid())
            os.ftruncate(self.fd, 0)
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view):]
            os.fsync(self.fd)
            os.fchmod(self.fd, mode)
            if owner != (os.geteuid(), os.getegid()):
                os.fchown(self.fd, *owner)
        except OSError as exc:
            raise ConfigError("cannot write %s: %s; the original file is unchanged"
                              % (self.tmp_path, exc.strerror or exc), path=self.path)

    def commit(self):
        """Rename the written temp file over the original: the atomic step."""
        try:
            os.rename(self.tmp_path, self.path)
        except OSError as exc:
            raise ConfigError("cannot replace %s: %s; the original file is unchanged"
                              % (self.path, exc.strerror or exc), path=self.path)
        self._close()

    def replace(self, text):
        """Write ``text`` and rename it over the original."""
        self.write(text)
        self.commit()

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
