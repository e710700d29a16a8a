# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs the modules share (private to the collection); documented in doc_fragments/common.py."""

from __future__ import annotations


def edit_spec(**own):
    """The arguments of every module that edits a Postfix file, plus the module's own."""
    spec = dict(
        config_dir=dict(type="path", default="/etc/postfix"),
        backup=dict(type="bool", default=False),
    )
    spec.update(own)
    return spec


# The scratch-directory check of postconf, tls_migrate and master_cf.
VALIDATE = dict(type="str")
