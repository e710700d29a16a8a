# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One file, one role: the files one call reads and writes, and the rule between them (private).

One tls_profile call names many files: main.cf and master.cf, tables and their indexes, keys
and certificates (written from content, or only read where they are), the relay's CA file, the
next DANE keys, the renewal hook, the DANE zone file, the record of what Postfix loaded. Each
side declares what it reads and what it writes (``reads``, ``writes``); before the first write,
``refuse_one_file_in_two_roles`` refuses a file the call writes that is also any other file it
writes or reads: a table written over an SNI key given by path would destroy the key. Two
options that only read one file (one certificate served for two names) are fine.

A file is known by its real path (links, ``..`` and linked directories resolved) and, when it
exists, by its device and inode: a hard link is the same file under another name.
"""

from __future__ import annotations

import os
from collections import namedtuple

from ..core.errors import InputError
from ..core.file_names import TMP_SUFFIX
from ..model.table_types import INDEX_SUFFIXES, berkeley_db_temporaries

# ``option`` as the user spells it (receiving.sni[0].chains[0].key_file), the path as given.
FileUse = namedtuple("FileUse", "option path writes")


def reads(option, path):
    return FileUse(option, path, False)


def writes(option, path):
    return FileUse(option, path, True)


def table_writes(option, path, table_type):
    """A table's source and every index postmap builds beside it, with the temporaries the write makes
    or removes on the way: TABLE.tmp, its indexes, Berkeley DB's __db.TABLE.tmp.db and postmap's own
    INDEX.tmp (cdb)."""
    suffixes = INDEX_SUFFIXES.get(table_type, [])
    tmp_indexes = [path + TMP_SUFFIX + suffix for suffix in suffixes]
    names = [path + suffix for suffix in [""] + suffixes] + tmp_indexes
    names += berkeley_db_temporaries(table_type, tmp_indexes) + [path + suffix + TMP_SUFFIX for suffix in suffixes]
    return [writes(option, name) for name in names]


def with_temporaries(uses):
    """Each written file's FILE.tmp too: the one write flow creates and may remove it."""
    found = list(uses)
    for use in uses:
        if use.writes and not use.path.endswith(TMP_SUFFIX):
            found.append(writes(use.option, use.path + TMP_SUFFIX))
    return found


def identify(path):
    """(real path, (st_dev, st_ino) or None when nothing is there): what makes two names one file."""
    try:
        found = os.stat(path)
    except OSError:
        return os.path.realpath(path), None
    return os.path.realpath(path), (found.st_dev, found.st_ino)


def one_file(identity, other):
    return identity[0] == other[0] or (identity[1] is not None and identity[1] == other[1])


def file_in_two_roles(uses, identities):
    """The first (use that writes, other use) naming one file; None when each written file is one thing.

    Pure: ``identities`` are ``identify(use.path)`` of each use, in order.
    """
    for index, use in enumerate(uses):
        for other, other_identity in zip(uses[:index], identities[:index]):
            if (use.writes or other.writes) and one_file(identities[index], other_identity):
                return (use, other) if use.writes else (other, use)
    return None


def relative_use(uses):
    """The first use whose path is not absolute: the call would find it relative to its own working
    directory, Postfix (and a renewal tool running the hook) relative to theirs."""
    return next((use for use in uses if not isinstance(use.path, str) or not os.path.isabs(use.path)), None)


def refuse_one_file_in_two_roles(uses):
    """Refuse, naming the option, a relative path or a written file that is another file the call names."""
    uses = list(dict.fromkeys(with_temporaries(uses)))  # one option declared twice is one use
    relative = relative_use(uses)
    if relative is not None:
        raise InputError(relative.option, "%r is not an absolute path: this call and Postfix would each look for "
                                          "it relative to their own working directory" % (relative.path,))
    found = file_in_two_roles(uses, [identify(use.path) for use in uses])
    if found is not None:
        use, other = found
        raise InputError(use.option, "%s is also %s (%s), which this call %s; each file is one thing"
                         % (use.path, other.option, other.path, "writes" if other.writes else "reads"))
