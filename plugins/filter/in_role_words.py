# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mailtls.postfix.in_role_words: a tls_profile message told in the roles' variables (documented in in_role_words.yml)."""

from __future__ import annotations

from ansible_collections.mailtls.postfix.plugins.plugin_utils.role_declarations import in_role_words


class FilterModule(object):

    def filters(self):
        return {"in_role_words": in_role_words}
