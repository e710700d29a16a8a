# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The renewal hook tls_profile installs, assembled from the collection's own files (private).

The hook runs alone on the managed host, where only python3's standard library is sure to be
(certbot runs it long after Ansible left). Its code is nevertheless the collection's, linted and
unit-tested where it lives: ``host/renewal_hook_script.py`` (its main) and the stdlib-only files
it imports. ``hook_script`` writes their source texts one after the other, in the order they
import each other, each without its relative imports and its ``from __future__`` line (one at
the top serves them all), then one line calling ``main`` with this instance's values. The
sources are read through each module's loader, which also works inside AnsiballZ's zip.
"""

from __future__ import annotations

import ast
import importlib

# Each part imported here by name, so that AnsiballZ packs its file (it follows static imports only).
from ..core.errors import PostfixError
from ..core.file_names import TMP_SUFFIX
from ..core.lines import split_lines
from ..host.files import EditLock
from ..host.renewal_hook_script import main
from ..model.table_types import INDEX_SUFFIXES
from ..model.tls_files import record_text

HOOK_MODE = 0o755
# The SNI table types the hook rebuilds: those whose index is one file postmap -F writes.
SNI_INDEXED_TYPES = ("hash", "btree", "lmdb", "cdb")
# The engine's files the hook is made of, each after the files it imports.
HOOK_PARTS = ("core.errors", "core.file_names", "core.lines", "host.files", "model.tls_files",
              "host.renewal_hook_script")
_PACKED = (PostfixError, TMP_SUFFIX, split_lines, EditLock, record_text, main)
_ENGINE = __name__.rsplit(".", 2)[0]
_HEADER = """#!/usr/bin/python3
# Installed by mailtls.postfix (tls_profile receiving.renewal_hook); changes here are replaced.
# Checks Postfix's TLS keys and certificates, rebuilds its SNI tables, reloads Postfix.
# Assembled from the collection's files %s.
from __future__ import annotations
"""


def part_source(name):
    """The source text of one engine file (``host.files``), as its loader gives it."""
    module = importlib.import_module("%s.%s" % (_ENGINE, name))
    source = module.__loader__.get_source(module.__name__)
    if source is None:
        raise RuntimeError("the source of %s is not available" % module.__name__)
    return source.decode("utf-8") if isinstance(source, bytes) else source  # Ansible's collection loader: bytes


def standalone(source):
    """``source`` without its relative imports and ``from __future__`` line (their lines left blank-free)."""
    dropped = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.ImportFrom) and (node.level or node.module == "__future__"):
            dropped.update(range(node.lineno, node.end_lineno + 1))
    return "".join(line for number, line in enumerate(source.splitlines(True), 1) if number not in dropped)


def hook_script(config_dir, record_path):
    """The hook's text for one Postfix instance and its record of loaded files."""
    suffixes = dict((kind, INDEX_SUFFIXES[kind]) for kind in SNI_INDEXED_TYPES)
    parts = ["\n# ---- %s ----\n%s" % (name.replace(".", "/") + ".py", standalone(part_source(name)))
             for name in HOOK_PARTS]
    call = "\n\nif __name__ == \"__main__\":\n    sys.exit(main(%r, %r, %r))\n" % (config_dir, record_path, suffixes)
    return _HEADER % ", ".join(name.replace(".", "/") + ".py" for name in HOOK_PARTS) + "".join(parts) + call
