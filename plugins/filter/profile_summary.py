# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mailtls.postfix.profile_summary: a tls_profile result in a few lines (documented in profile_summary.yml)."""

from __future__ import annotations

from ansible_collections.mailtls.postfix.plugins.plugin_utils.profile_summary import summary


class FilterModule(object):

    def filters(self):
        return {"profile_summary": summary}
