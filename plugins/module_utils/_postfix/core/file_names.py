# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names of files every layer must agree on (private)."""

from __future__ import annotations

# Postfix's own configuration files in a config_directory.
CONFIG_FILES = ("main.cf", "master.cf")
# The suffix of the exclusive temporary a file is written to before it is renamed into place.
TMP_SUFFIX = ".tmp"
# The records the collection keeps beside main.cf (what it created, what Postfix loaded): no
# secret in them, but only root's business.
RECORD_MODE = 0o600
