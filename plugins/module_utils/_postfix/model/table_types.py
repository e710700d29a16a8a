# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Postfix lookup-table types that live in files (private to the collection). Pure data."""

from __future__ import annotations

import os
import re

from ..core.errors import InputError
from ..core.lines import LIST_SEPARATORS
from .table import LookupTable

# What a path cannot hold once main.cf names it in a map list (or master.cf in an -o value).
_PATH_BREAKERS = re.compile("[%s{}$\x00-\x1f\x7f\ud800-\udfff]" % re.escape(LIST_SEPARATORS))

# Types postmap compiles into an index, and the files it writes beside the source.
INDEX_SUFFIXES = {
    "hash": [".db"],
    "btree": [".db"],
    "lmdb": [".lmdb"],
    "cdb": [".cdb"],
    "dbm": [".dir", ".pag"],
    "sdbm": [".dir", ".pag"],
}
# Every file postmap may have built beside a source, whatever its type.
ALL_INDEX_SUFFIXES = frozenset(suffix for suffixes in INDEX_SUFFIXES.values() for suffix in suffixes)
# Indexed types whose every entry postmap -s lists on each supported Postfix (cdb only from 3.10).
LISTABLE_TYPES = frozenset(["hash", "btree", "lmdb"])
# Types Postfix reads from the source itself; a change needs a reload.
FLAT_TYPES = frozenset(["texthash", "regexp", "pcre", "cidr"])
FILE_TYPES = frozenset(INDEX_SUFFIXES) | FLAT_TYPES
# Types whose keys are patterns, not words to look up: no per-key verification.
PATTERN_TYPES = frozenset(["regexp", "pcre", "cidr"])
# Types whose keys are /pattern/flags, which may hold spaces.
DELIMITED_TYPES = frozenset(["regexp", "pcre"])
# Debian packages that add a map type to Postfix.
TYPE_PACKAGES = {
    "lmdb": "postfix-lmdb",
    "cdb": "postfix-cdb",
    "pcre": "postfix-pcre",
    "mysql": "postfix-mysql",
    "pgsql": "postfix-pgsql",
    "ldap": "postfix-ldap",
    "sqlite": "postfix-sqlite",
}


def check_map_path(path, where):
    """A table path main.cf can name as one element of a list: absolute, no separator, brace or control."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise InputError(where, "%r is not an absolute path" % (path,))
    if _PATH_BREAKERS.search(path):
        raise InputError(where, "%r holds a space, comma, brace, '$' or control character: Postfix would read it "
                                "as more than one word of a list, or expand it" % (path,))
    return path


def berkeley_db_temporaries(table_type, indexes):
    """The temporaries Berkeley DB creates beside an index it builds (hash, btree): __db.NAME."""
    if table_type not in ("hash", "btree"):
        return []
    return [os.path.join(os.path.dirname(index), "__db." + os.path.basename(index)) for index in indexes]


def is_indexed(table_type):
    return table_type in INDEX_SUFFIXES


def folds_keys(table_type):
    """postmap folds keys to lower case for indexed and hash-like tables."""
    return table_type not in PATTERN_TYPES


def table_document(table_type, text):
    """A table source parsed the way postmap reads this type."""
    return LookupTable(text, fold_case=folds_keys(table_type), blocks=table_type in PATTERN_TYPES,
                       delimited=table_type in DELIMITED_TYPES)


def check_type(table_type, available, where="type"):
    """Raise InputError unless ``table_type`` is a file table this Postfix supports."""
    if table_type not in FILE_TYPES:
        raise InputError(where, "%r is not a file-based lookup table type; use one of %s"
                         % (table_type, ", ".join(sorted(FILE_TYPES))))
    if table_type not in available:
        package = TYPE_PACKAGES.get(table_type)
        hint = " (on Debian and Ubuntu install the package '%s')" % package if package else ""
        raise InputError(where, "this Postfix does not support the %r table type: postconf -m does not list it%s"
                         % (table_type, hint))
