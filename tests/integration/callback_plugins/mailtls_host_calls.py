# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which modules ran on each host itself, for tests (tests/integration/test_tls_report_one_call.py).

A module call on a host is a task result of that host that was neither delegated (the report's
files are written on the controller, ``delegate_to: localhost``) nor an action that stays on the
controller (set_fact, debug, ...); each loop item counts. The calls go to $MAILTLS_HOST_CALLS_FILE
as JSON: {host: [action, ...]}, in the order they ran.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: mailtls_host_calls
type: aggregate
short_description: List the module calls that ran on each host itself (tests only)
description:
  - Writes {host - [action, ...]} to the file named by E(MAILTLS_HOST_CALLS_FILE) at the end of the run.
requirements:
  - enable with E(ANSIBLE_CALLBACKS_ENABLED)
"""

import collections
import json
import os

from ansible.plugins.callback import CallbackBase

CONTROLLER_ONLY = {"set_fact", "debug", "assert", "fail", "meta", "include_role", "import_role", "validate_argument_spec",
                   "include_tasks", "import_tasks", "include_vars", "add_host", "group_by", "pause", "declare"}


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "mailtls_host_calls"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.calls = collections.defaultdict(list)
        self.delegated = collections.defaultdict(list)

    def _record(self, result):
        action = result._task.action
        if action.rsplit(".", 1)[-1] in CONTROLLER_ONLY:
            return
        items = result._result.get("results")
        ran = [item for item in items if not item.get("skipped")] if isinstance(items, list) else [result._result]
        where = self.delegated if result._task.delegate_to else self.calls
        where[result._host.get_name()] += [action] * len(ran)

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result)

    def v2_runner_on_unreachable(self, result):
        self._record(result)

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("MAILTLS_HOST_CALLS_FILE")
        if path:
            with open(path, "w") as out:
                json.dump({"on_host": self.calls, "delegated": self.delegated}, out, indent=1, sort_keys=True)
