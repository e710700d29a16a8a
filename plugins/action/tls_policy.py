# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mailtls.postfix.tls_policy: sends ``src`` from the controller, then runs the module."""

from __future__ import annotations

from ansible_collections.mailtls.postfix.plugins.plugin_utils.table_src import TableSourceAction


class ActionModule(TableSourceAction):

    MODULE = "mailtls.postfix.tls_policy"
