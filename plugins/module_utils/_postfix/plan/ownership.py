# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What each named profile wrote on a host, and what taking it back means (private, pure).

The record (``mailtls-profiles.json`` beside main.cf) lists, per profile name (the role that
declared it: tls_forced, tls_opportunistic, tls_receiving, server), the main.cf parameters it
wrote with the value it replaced, the policy-table entries it wrote with the value they
replaced, and the files it created. Only what a record lists is ever taken back, and only while
it still holds the value the profile wrote: a value someone changed since stays, with a warning.
A parameter or entry two profiles wrote goes when the last of them lets it go.
"""

from __future__ import annotations

import json
import os

from ..core.errors import ConfigError
from ..core.file_names import CONFIG_FILES
from ..model.tls import LEVEL_STRENGTH, covering_keys

PROFILES_RECORD = "mailtls-profiles.json"
RECORD_FORMAT = "mailtls.postfix profiles 1"
# The name of the call's own declaration whose absent state takes back every recorded profile.
HOST_PROFILE = "server"


def empty_profile():
    return {"parameters": {}, "table": None, "files": []}


def _refuse(path, problem):
    raise ConfigError("%s is not the collection's record of what its profiles wrote (%s); nothing was changed: "
                      "move it away to let the roles start a new one (nothing it lists is taken back then)"
                      % (path, problem), path=path)


def _is_text_or_none(value):
    return value is None or isinstance(value, str)


def _check_values(path, where, values):
    if not isinstance(values, dict):
        _refuse(path, "%s is not a mapping" % where)
    for name, item in values.items():
        if not (isinstance(name, str) and isinstance(item, dict) and set(item) == {"value", "replaced"}
                and _is_text_or_none(item["value"]) and _is_text_or_none(item["replaced"])):
            _refuse(path, "%s.%s is not {value, replaced}" % (where, name))


def outside(file_path, config_dir, named):
    """Whether ``file_path`` is outside ``config_dir`` and no declaration of the call names it: never deleted."""
    return not file_path.startswith(config_dir + os.sep) and file_path not in named


def _check_path(path, where, file_path, config_dir, named, anywhere=False):
    if not (isinstance(file_path, str) and os.path.isabs(file_path) and os.path.normpath(file_path) == file_path):
        _refuse(path, "%s: %r is not an absolute, normal path" % (where, file_path))
    inside = os.path.dirname(file_path) == config_dir or file_path.startswith(config_dir + os.sep)
    if inside and (os.path.basename(file_path) in CONFIG_FILES + (PROFILES_RECORD,)):
        _refuse(path, "%s names %s, which no profile creates" % (where, file_path))
    if not inside and file_path not in named and not anywhere:
        _refuse(path, "%s: %s is outside %s and no declaration of this call names it" % (where, file_path, config_dir))


def parse_profiles_record(text, path, config_dir, named=()):
    """The record's profiles (name -> {parameters, table, files}); a record that is not ours is refused
    naming it. ``named``: the files outside ``config_dir`` this call's declarations name."""
    try:
        found = json.loads(text)
    except ValueError as error:
        _refuse(path, "not JSON: %s" % error)
    if not isinstance(found, dict) or found.get("format") != RECORD_FORMAT or not isinstance(found.get("profiles"), dict):
        _refuse(path, "no %r format and profiles" % RECORD_FORMAT)
    profiles = {}
    for name, profile in found["profiles"].items():
        where = "profiles.%s" % name
        if not isinstance(profile, dict) or set(profile) != {"parameters", "table", "files"}:
            _refuse(path, "%s is not {parameters, table, files}" % where)
        _check_values(path, where + ".parameters", profile["parameters"])
        table = profile["table"]
        if table is not None:
            if not isinstance(table, dict) or set(table) != {"path", "type", "entries"} or \
                    not isinstance(table["type"], str):
                _refuse(path, "%s.table is not {path, type, entries}" % where)
            _check_path(path, where + ".table.path", table["path"], config_dir, named)
            _check_values(path, where + ".table.entries", table["entries"])
        if not isinstance(profile["files"], list):
            _refuse(path, "%s.files is not a list" % where)
        for index, file_path in enumerate(profile["files"]):
            # A created certificate may have moved on (another path given since): kept, never deleted unnamed.
            _check_path(path, "%s.files[%d]" % (where, index), file_path, config_dir, named, anywhere=True)
        profiles[name] = profile
    return profiles


def render_profiles_record(profiles):
    """The record's text; None when no profile holds anything any more (the record goes)."""
    kept = dict((name, profile) for name, profile in profiles.items()
                if profile["parameters"] or (profile["table"] and profile["table"]["entries"]) or profile["files"])
    if not kept:
        return None
    return json.dumps({"format": RECORD_FORMAT, "profiles": kept}, indent=1, sort_keys=True) + "\n"


def replaced_value(name, section, profiles, owner, before):
    """The value ``owner`` replaces by writing ``name``: what its record says, else what another
    profile that wrote the value there now says it replaced, else the value there now (``before``)."""
    own = section(profiles.get(owner) or empty_profile()).get(name)
    if own is not None:
        return own["replaced"]
    for other, profile in sorted(profiles.items()):
        item = section(profile).get(name)
        if other != owner and item is not None and item["value"] == before:
            return item["replaced"]
    return before


def parameters_of(profile):
    return profile["parameters"]


def entries_of(profile):
    return (profile["table"] or {}).get("entries") or {}


def release(owner, names, section, profiles, releasing, current, still_wanted):
    """What taking back ``names`` of ``owner``'s record does.

    Returns (restore: name -> value to set back, or None to remove; changed: name -> (written, now),
    the values someone changed since, which stay). ``current`` holds the values there now (name ->
    value, absent: missing); ``still_wanted`` the names another declaration of the call writes;
    ``releasing`` the owners this call lets go of. Another owner that still holds a name keeps it.
    """
    restore, changed = {}, {}
    for name in names:
        written = section(profiles[owner])[name]
        now = current.get(name)
        if now != written["value"]:
            changed[name] = (written["value"], now)
            continue
        if name in still_wanted or any(name in section(profile) for other, profile in profiles.items()
                                       if other != owner and other not in releasing):
            continue
        if now != written["replaced"]:
            restore[name] = written["replaced"]
    return restore, changed


def level_of(value):
    return (value or "").split()[0].lower() if (value or "").split() else None


def level_now(key, entries, table_named, main_level):
    """(the level mail to ``key`` gets, from what) once its own entry is gone: a covering entry of the
    table (``entries``: key -> value as it will be) while main.cf names the table, else main.cf's."""
    if table_named:
        for candidate in covering_keys(key):
            if candidate != key and level_of(entries.get(candidate)):
                return level_of(entries[candidate]), "the table's %s entry" % candidate
    return (main_level or "none").split()[0].lower(), "main.cf's smtp_tls_security_level"


def lowered(removed, entries, table_named, main_level):
    """The removed entries (key -> old value) whose destination now gets a weaker level:
    [{destination, was, now, by}], a destination and its sub-domain entry told once."""
    found = []
    for key, value in sorted(removed.items(), key=lambda pair: (pair[0].lstrip("."), pair[0].startswith("."))):
        was = level_of(value)
        now, by = level_now(key, entries, table_named, main_level)
        if LEVEL_STRENGTH.get(was, 0) <= LEVEL_STRENGTH.get(now, 0):
            continue
        if key.startswith(".") and any(item["destination"] == key[1:] and item["was"] == was for item in found):
            next(item for item in found if item["destination"] == key[1:])["subdomains"] = True
            continue
        found.append({"destination": key, "was": was, "now": now, "by": by, "subdomains": False})
    return found


def lowered_warning(owner, item, table):
    what = item["destination"] + (" and its sub-domains" if item["subdomains"] else "")
    return ("TLS lowered for %s: %s no longer lists it, so its %s entry was removed from %s; mail to it now gets "
            "TLS level %s (%s)" % (what, owner, item["was"], table, item["now"], item["by"]))


def changed_warning(owner, kind, name, written, now):
    return ("%s %s stays: %s wrote %r there, someone changed it since to %r; %s no longer takes it back"
            % (kind, name, owner, written, now, owner))
