# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that runs Postfix's commands (private to the collection).

Every command runs with LANG=C so that its messages parse the same everywhere.
The runner is AnsibleModule.run_command, passed in, so this file has no
Ansible import and can be driven by tests with any compatible callable.
"""

from __future__ import annotations

import collections
import os
import pty
import re
import stat
import subprocess

from ..core.errors import CommandError, ConfigError
from ..core.file_names import CONFIG_FILES
from ..core.versions import parse_version

SBIN_DIRS = ["/usr/sbin", "/usr/local/sbin", "/sbin"]
C_LOCALE = {"LANG": "C", "LC_ALL": "C", "LC_MESSAGES": "C"}
# Postfix's smtp is about half a MiB; its dynamic strings come early in the file.
SMTP_BINARY_MAX_BYTES = 16 * 1024 * 1024
TLSRPT_LIBRARY = b"libtlsrpt.so"  # what a smtp built with TLSRPT support names (TLSRPT_README)
_POSTFIX_LIBRARY = re.compile(rb"libpostfix-[a-z]+\.so[.0-9]*")  # Postfix's own shared libraries (Debian)
_UNUSED = re.compile(r"\S*postconf: warning: .*/main\.cf: unused parameter: ([^=\s]+)=(.*)")
# Warnings that do not mean a broken main.cf: an unknown name (reported on its own), and
# newer Postfix versions' notes on obsolete parameters.
_HARMLESS_WARNING = re.compile(r"unused parameter: |will be removed|deprecated|obsolete", re.I)
_QUOTED = re.compile(r'"[^"]*"')
_UNDEFINED = re.compile(r": undefined parameter: ")
_TABLE_WARNING = re.compile(r"\S*postmap: warning: \S+ map .*, line (\d+): (.*)")
# "warning: FILE, line N: MESSAGE" (main.cf), "warning: FILE: line N: MESSAGE" or "warning: FILE: MESSAGE".
_CONFIG_WARNING = re.compile(r"warning: (?P<file>[^,:]*)(?:[,:] line \d+)?: (?P<message>.*)")
# Postfix shows the value it overrides; the parameter alone says which duplicate it warns about.
_OVERRIDDEN_VALUE = re.compile(r"(?<=overriding earlier entry: )(?P<name>[^=]*)=.*")


def output_lines(output):
    """A command's output as lines: split on newlines only.

    str.splitlines() also splits on form feeds, U+2028 and other characters a
    Postfix value may hold.
    """
    return [line for line in output.split("\n") if line]


def parse_parameters(output):
    """Parse ``name = value`` lines as printed by ``postconf -n``."""
    values = {}
    for line in output_lines(output):
        name, sep, value = line.partition(" = ")
        if sep:
            values[name] = value.strip()
        elif line.endswith(" ="):
            values[line[:-2]] = ""
    return values


def config_warnings(stderr, config_dir):
    """What postconf warns about a configuration, with the directory's name taken out."""
    return [line[line.index("warning:"):].replace(config_dir, "<config>") for line in output_lines(stderr)
            if "warning:" in line and not harmless_warning(line)]


def harmless_warning(line):
    """An unused parameter, or Postfix saying a parameter is obsolete: never about a value's text.

    What Postfix quotes ("{/etc/ssl/deprecated/cert.pem", a parameter's name) and the name an
    undefined-parameter warning gives are the user's words, not Postfix's verdict.
    """
    message = line[line.index("warning:"):]
    if _UNDEFINED.search(message):
        return False
    return bool(_HARMLESS_WARNING.search(_QUOTED.sub('""', message)))


def warning_identity(warning):
    """A ``config_warnings`` line as ``(file, message)``, without what an edit elsewhere moves.

    An edit above a duplicate entry moves the line number of Postfix's "overriding earlier
    entry" warning, and an edit of the duplicated parameter changes the value it shows:
    it is still the same warning about the same parameter.
    """
    match = _CONFIG_WARNING.fullmatch(warning)
    if not match:
        return None, warning
    return match.group("file"), _OVERRIDDEN_VALUE.sub(r"\g<name>", match.group("message"))


def new_warnings(before, after):
    """The warnings of ``after`` that ``before`` does not hold, compared as a multiset of identities.

    A second warning like one already given (a new duplicate of a duplicated name) is new.
    """
    known = collections.Counter(warning_identity(warning) for warning in before)
    new = []
    for warning in after:
        identity = warning_identity(warning)
        if known[identity]:
            known[identity] -= 1
        else:
            new.append(warning)
    return new


# Postfix quotes the text a macro warning is about, cut with "..." and marked with ">>>".
_MACRO_QUOTE = re.compile(r'"([^"]*)"')
_UNDEFINED_NAME = re.compile(r"undefined parameter: ([A-Za-z0-9_]+)$")


def warning_parameters(warning, values):
    """The names of ``values`` (``{name: value}``, the changed parameters) a warning is about.

    Postfix's macro warnings ("truncated macro reference", "attribute name syntax error at")
    name no parameter, only the text they quote; "undefined parameter: x" names the one a
    value refers to. So a warning is laid to each value that holds its quoted text, or that
    refers to the undefined parameter. Nothing matches a quote of an expanded value: no guess.
    """
    undefined = _UNDEFINED_NAME.search(warning)
    if undefined:
        reference = re.compile(r"\$(?:\{\s*|\(\s*)?%s(?![A-Za-z0-9_])" % re.escape(undefined.group(1)))
        return sorted(name for name, value in values.items() if value and reference.search(value))
    quoted = [text.replace(">>>", "") for text in _MACRO_QUOTE.findall(warning)]
    quoted = [text[3:] if text.startswith("...") else text for text in quoted]
    return sorted(name for name, value in values.items()
                  if value and any(text and text in value for text in quoted))


def parse_unused(stderr):
    """Parameters postconf does not know, as ``{name: value}`` from its warnings."""
    unused = {}
    for line in output_lines(stderr):
        match = _UNUSED.fullmatch(line)
        if match:
            unused[match.group(1)] = match.group(2).strip()
    return unused


class Postfix(object):
    """Postfix's command-line tools, found once and run with LANG=C."""

    def __init__(self, get_bin_path, run_command):
        self._get_bin_path = get_bin_path
        self._run_command = run_command
        self._bins = {}
        self._checked = set()
        # What the installed binaries decide, asked once per directory: one call asks it from several sides.
        self._versions = {}
        self._map_types = {}

    def binary(self, name):
        if name not in self._bins:
            path = self._get_bin_path(name, opt_dirs=SBIN_DIRS)
            if not path:
                raise CommandError("%s not found (looked in PATH and %s): is Postfix installed? "
                                   "On Debian and Ubuntu it is the package 'postfix'."
                                   % (name, ", ".join(SBIN_DIRS)))
            self._bins[name] = path
        return self._bins[name]

    def _readable_config(self, args):
        """Refuse a main.cf or master.cf that is not a regular file: Postfix would block on a FIFO."""
        if "-c" not in args:
            return
        config_dir = args[args.index("-c") + 1]
        if config_dir not in self._checked:
            check_config_files(config_dir)
            self._checked.add(config_dir)

    def run(self, name, args, data=None, check=True):
        """Run a Postfix tool; return (rc, stdout, stderr), raising CommandError on failure if ``check``."""
        self._readable_config(args)
        argv = [self.binary(name)] + list(args)
        rc, out, err = self._run_command(argv, data=data, binary_data=data is not None,
                                         environ_update=C_LOCALE)
        if check and rc != 0:
            message = (err or out).strip() or "exit code %d" % rc
            raise CommandError("%s failed: %s" % (" ".join(argv), message),
                               rc=rc, stdout=out, stderr=err, cmd=argv)
        return rc, out, err

    def parameter(self, config_dir, name):
        """One parameter's value as Postfix sees it (default or set), unexpanded."""
        return self.run("postconf", ["-c", config_dir, "-h", name])[1].strip()

    def parameters(self, config_dir, names, expand=False):
        """Several parameters' values as Postfix sees them in one postconf run: {name: value}; with ``expand``,
        their $name references expanded (``postconf -x``), as Postfix's programs use them."""
        found = {}
        for line in self.run("postconf", ["-c", config_dir] + (["-x"] if expand else []) + list(names))[1].splitlines():
            name, separator, value = line.partition(" = ")
            if not separator and line.endswith(" ="):
                name, value = line[:-2], ""
            found[name.strip()] = value.strip()
        return found

    def version(self, config_dir):
        """``mail_version`` as a tuple of numbers, (3, 7, 11)."""
        if config_dir not in self._versions:
            self._versions[config_dir] = parse_version(self.parameter(config_dir, "mail_version"))
        return self._versions[config_dir]

    def map_types(self, config_dir):
        """The lookup table types this Postfix supports (``postconf -m``)."""
        if config_dir not in self._map_types:
            self._map_types[config_dir] = frozenset(self.run("postconf", ["-c", config_dir, "-m"])[1].split())
        return set(self._map_types[config_dir])

    def postmap(self, config_dir, table, file_values=False):
        """Build the index of ``type:path``; with ``file_values`` (-F), of the content of the files values name.

        Returns postmap's warnings: it skips an entry it cannot read, and still succeeds.
        """
        err = self.run("postmap", ["-c", config_dir] + (["-F"] if file_values else []) + [table])[2]
        return [line[line.index("warning:"):] for line in output_lines(err) if "warning:" in line]

    def query(self, config_dir, table, keys):
        """Look many keys up in one postmap process; return ``{key: value}`` for those found."""
        if not keys:
            return {}
        out, _err = self._query(config_dir, table, keys)
        found = {}
        for line in output_lines(out):
            key, sep, value = line.partition("\t")
            if sep:
                found[key] = value
        return found

    def dump(self, config_dir, table):
        """Every entry of an indexed table (``postmap -s``) as ``{key: value}``, keys as stored."""
        self._readable_config(["-c", config_dir])
        argv = [self.binary("postmap"), "-c", config_dir, "-s", table]
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=dict(os.environ, **C_LOCALE), check=False)
        err = proc.stderr.decode("utf-8", "surrogateescape")
        if proc.returncode != 0 or "fatal:" in err:
            # stderr only: stdout holds every value, which may be secrets.
            raise CommandError("postmap -s %s failed: %s" % (table, err.strip() or "exit code %d" % proc.returncode),
                               rc=proc.returncode, stderr=err)
        found = {}
        for line in output_lines(proc.stdout.decode("utf-8", "surrogateescape")):
            key, sep, value = line.partition("\t")
            if sep:
                found.setdefault(key, value)
        return found

    def table_warnings(self, config_dir, table):
        """What postmap warns about while it reads a pattern table: [(line number, message)]."""
        _out, err = self._query(config_dir, table, ["mailtls-probe.invalid"])
        warnings = []
        for line in output_lines(err):
            match = _TABLE_WARNING.fullmatch(line)
            if match:
                warnings.append((int(match.group(1)), match.group(2)))
        return warnings

    def socketmap_problem(self, config_dir, table):
        """Why Postfix could not look a domain up in ``table`` (an MTA-STS policy server's socketmap): its
        fatal line, None when the server answers (found or not found). Postfix defers all mail while it fails."""
        _rc, _out, err = self.run("postmap", ["-c", config_dir, "-q", "mailtls-preflight.invalid", table], check=False)
        fatal = [line for line in output_lines(err) if "fatal:" in line]
        if fatal:
            return "the MTA-STS policy server at %s does not answer (%s); Postfix would defer all mail " \
                   "while it is down" % (table, fatal[0].strip())
        return None

    def _query(self, config_dir, table, keys):
        """``postmap -q -`` of ``keys``; return (stdout, stderr)."""
        self._readable_config(["-c", config_dir])
        argv = [self.binary("postmap"), "-c", config_dir, "-q", "-", table]
        data = "".join(key + "\n" for key in keys).encode("utf-8", "surrogateescape")
        # Not run_command: it writes all of stdin before reading stdout, which deadlocks
        # once postmap's answers fill the pipe. communicate() does both at once.
        proc = subprocess.run(argv, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=dict(os.environ, **C_LOCALE), check=False)
        rc = proc.returncode
        out = proc.stdout.decode("utf-8", "surrogateescape")
        err = proc.stderr.decode("utf-8", "surrogateescape")
        # postmap -q exits 1 when no key was found; only other failures are errors.
        if rc not in (0, 1) or "fatal:" in err:
            # stderr only: stdout holds the values found, which may be secrets.
            raise CommandError("postmap -q - %s failed: %s" % (table, err.strip() or "exit code %d" % rc),
                               rc=rc, stderr=err)
        return out, err

    def non_default(self, config_dir):
        """``postconf -n`` of a directory: (known values, unknown-parameter values, stderr)."""
        rc, out, err = self.run("postconf", ["-c", config_dir, "-n"])
        values = parse_parameters(out)
        if values.get("config_directory") == config_dir:
            del values["config_directory"]
        return values, parse_unused(err), err


def smtp_links_tlsrpt(daemon_directory, shlib_directory):
    """Whether Postfix's smtp (in ``daemon_directory``) is linked with libtlsrpt: its own dynamic section names the
    library, or (Debian: Postfix's code in shared libraries, ``shlib_directory``) one of the libpostfix libraries
    it names does. Read, never run (ldd may run the program)."""
    smtp = _head(os.path.join(daemon_directory, "smtp"))
    if TLSRPT_LIBRARY in smtp:
        return True
    if not shlib_directory or shlib_directory == "no":
        return False  # statically linked Postfix code: smtp would name the library itself
    return any(TLSRPT_LIBRARY in _head(os.path.join(shlib_directory, name.decode("ascii")))
               for name in sorted(set(_POSTFIX_LIBRARY.findall(smtp))))


def _head(path):
    """The first bytes of a regular file (a FIFO would block the read), empty when there is none."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return b""
        with open(path, "rb") as handle:
            return handle.read(SMTP_BINARY_MAX_BYTES)
    except OSError:
        return b""


def run_with_terminal(argv):
    """Run ``argv`` with its stderr on a pseudo-terminal; return (rc, stdout, stderr).

    postfix(1) and its scripts write their diagnostics to stderr only when it is a
    terminal (otherwise to the mail log alone); a validate command's reason belongs in
    the module's error message.
    """
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                                env=dict(os.environ, **C_LOCALE))
        os.close(slave)
        slave = None
        chunks = []
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        out = proc.stdout.read()
        proc.stdout.close()
        rc = proc.wait()
    finally:
        os.close(master)
        if slave is not None:
            os.close(slave)
    err = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    return rc, out.decode("utf-8", "replace"), err


def check_config_files(config_dir):
    """Refuse a main.cf or master.cf that is there but is no regular file: Postfix would block on a FIFO."""
    for name in CONFIG_FILES:
        path = os.path.join(config_dir, name)
        if os.path.lexists(path) and not os.path.isfile(path):
            raise ConfigError("%s is not a regular file" % path, path=path)
