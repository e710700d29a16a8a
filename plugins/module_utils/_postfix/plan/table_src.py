# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A table given as a file (``src``): its text parsed into the entries or policies the modules' own
options take (private to the collection).

Pure: no Ansible, no I/O. The module reads the file (host/table_source.py) and hands the text here;
what comes out goes through the same checks as ``entries`` and ``policies``. No message here
ever holds a value: a secret table's values come through this code.
"""

from __future__ import annotations

import csv
import io
import re

from ..core.errors import InputError
from ..model.table import LookupTable
from ..model.tls import LEVELS

WHERE = "src"
POLICY_FIELDS = ("destination", "level", "attributes", "include_subdomains")
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_CONTROL_NAMES = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", "\0": "a NUL byte"}
_BOOLEANS = {"": None, "yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}


def source_entries(document):
    """A Postfix table source (``document``: its text read as postmap reads the table's type) -> key -> value,
    in file order.

    Refused, naming the line: a line without a value, a continuation line with nothing to continue,
    a key given twice (postmap would keep the first and warn), a pattern table's if/endif block, a NUL byte.
    """
    text = document.render()
    if "\0" in text:
        raise InputError(WHERE, "line %d holds a NUL byte, which a table line cannot hold" % _line_of(text, "\0"))
    if document.has_blocks:
        raise InputError(WHERE, "if/endif blocks are not supported in src: give the rules outside any block")
    entries, first_line = {}, {}
    fold = document.fold
    for members, key, value in document.logical:
        line = members[0] + 1
        if not key:
            raise InputError(WHERE, "line %d starts with whitespace, which postmap reads as the continuation of a "
                                    "previous line, and there is none" % line)
        if not value:
            raise InputError(WHERE, "line %d: key %r has no value; postmap expects 'key value'" % (line, key))
        folded = fold(key)
        if folded in first_line:
            raise InputError(WHERE, "line %d: key %r is given again (first on line %d); postmap keeps only the first"
                             % (line, key, first_line[folded]))
        first_line[folded] = line
        entries[key] = value
    _check_orphan_continuation(document)
    return entries


def _check_orphan_continuation(document):
    """A first content line that starts with whitespace is skipped by the general reader: refuse it."""
    for index, line in enumerate(document.lines):
        stripped = line.strip(" \t\n\v\f\r")
        if not stripped or stripped.startswith("#"):
            continue
        if line[0] in " \t\v\f\r":
            raise InputError(WHERE, "line %d starts with whitespace, which postmap reads as the continuation of a "
                                    "previous line, and there is none" % (index + 1))
        return


def _line_of(text, char):
    return text.count("\n", 0, text.index(char)) + 1


def policy_attributes(words, label):
    """``name=value`` words of a policy (as Postfix's table writes them) -> attributes."""
    attributes = {}
    for word in words:
        name, sep, value = word.partition("=")
        if not sep or not name or not value:
            raise InputError(WHERE, "%s: %r is not an attribute=value pair" % (label, word))
        if name in attributes:
            raise InputError(WHERE, "%s: attribute %r is given twice" % (label, name))
        attributes[name] = value
    return attributes


def source_policies(text, src_format):
    """A tls_policy source -> policy items (destination, level, attributes, include_subdomains, where)."""
    if src_format == "yaml":
        return yaml_policies(text)
    if src_format == "csv":
        return csv_policies(text)
    return postfix_policies(text)


def postfix_policies(text):
    """A policy table source ``destination level [name=value ...]`` -> policy items."""
    items = []
    for key, value in source_entries(LookupTable(text)).items():
        words = value.split()
        label = "destination %s" % key
        items.append(dict(destination=key, level=words[0], attributes=policy_attributes(words[1:], label),
                          include_subdomains=False, where=label))
    return items


def csv_policies(text):
    """CSV rows ``destination,level,attributes,include_subdomains`` (a header row is optional) -> items."""
    items = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for row in reader:
            label = "row %d" % reader.line_num
            if not row or not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
                continue
            if [cell.strip() for cell in row[:len(POLICY_FIELDS)]] == list(POLICY_FIELDS)[:len(row)]:
                continue  # the header
            items.append(_csv_item(row, label))
    except csv.Error as exc:
        raise InputError(WHERE, "row %d is not valid CSV: %s" % (reader.line_num, exc))
    return items


def _csv_item(row, label):
    if len(row) > len(POLICY_FIELDS):
        raise InputError(WHERE, "%s has %d columns; expected at most %d (%s)"
                         % (label, len(row), len(POLICY_FIELDS), ", ".join(POLICY_FIELDS)))
    cells = [cell.strip(" ") for cell in row] + [""] * (len(POLICY_FIELDS) - len(row))
    for name, cell in zip(POLICY_FIELDS, cells):
        found = _CONTROL.search(cell)
        if found:
            raise InputError(WHERE, "%s: %s holds %s" % (label, name, _CONTROL_NAMES.get(
                found.group(), "a control character")))
    destination, level, attributes, subdomains = cells
    if subdomains.lower() not in _BOOLEANS:
        raise InputError(WHERE, "%s: include_subdomains must be yes or no, got %r" % (label, subdomains))
    if level and level not in LEVELS:
        raise InputError(WHERE, "%s: level %r is not a TLS security level; use one of %s"
                         % (label, level, ", ".join(LEVELS)))
    return dict(destination=destination, level=level or None,
                attributes=policy_attributes(attributes.split(" "), label) if attributes else None,
                include_subdomains=_BOOLEANS[subdomains.lower()], where=label)


def yaml_policies(text):
    """A YAML list of policies, as the ``policies`` option takes them -> items."""
    try:
        import yaml
    except ImportError:
        raise InputError("src_format", "yaml needs PyYAML on the managed host (on Debian, python3-yaml); use csv "
                                       "or postfix")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(WHERE, "is not valid YAML%s" % (" (line %d)" % (mark.line + 1) if mark else ""))
    if data is None:
        return []
    if not isinstance(data, list):
        raise InputError(WHERE, "must be a YAML list of policies (destination, level, attributes, "
                                "include_subdomains), not a %s" % type(data).__name__)
    return [_yaml_item(item, "item %d" % number) for number, item in enumerate(data, 1)]


def _yaml_item(item, label):
    if not isinstance(item, dict):
        raise InputError(WHERE, "%s is not a mapping" % label)
    unknown = sorted(str(name) for name in item if name not in POLICY_FIELDS)
    if unknown:
        known = ", ".join(POLICY_FIELDS)
        raise InputError(WHERE, "%s: unknown field %s; known: %s" % (label, ", ".join(unknown), known))
    destination, level = item.get("destination"), item.get("level")
    attributes, subdomains = item.get("attributes"), item.get("include_subdomains")
    if not isinstance(destination, str) or _CONTROL.search(destination):
        raise InputError(WHERE, "%s: destination must be one line of text" % label)
    if level is not None and level not in LEVELS:
        raise InputError(WHERE, "%s: level %r is not a TLS security level; use one of %s"
                         % (label, level, ", ".join(LEVELS)))
    if attributes is not None and not isinstance(attributes, dict):
        raise InputError(WHERE, "%s: attributes must be a mapping" % label)
    if subdomains is not None and not isinstance(subdomains, bool):
        raise InputError(WHERE, "%s: include_subdomains must be true or false" % label)
    return dict(destination=destination, level=level, attributes=attributes, include_subdomains=subdomains,
                where=label)
