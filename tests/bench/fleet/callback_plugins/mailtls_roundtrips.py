"""Counts what each host cost a run: module round trips, changes, reloads and probes.

tls_profile probes and reloads inside its one call: its result says how many.

Enabled by tests/bench/fleet_bench.py only. A round trip is one module executed on the host
(each loop item counts); actions that stay on the controller (set_fact, debug, assert, fail,
meta, includes), skipped tasks and tasks delegated to another host cost none. The counts go to $MAILTLS_ROUNDTRIPS_FILE as JSON.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: mailtls_roundtrips
type: aggregate
short_description: Count module round trips, changes, reloads and probes per host (benchmark only)
description:
  - Writes per-host counts to the file named by E(MAILTLS_ROUNDTRIPS_FILE) at the end of the run.
requirements:
  - enable in ansible.cfg or with E(ANSIBLE_CALLBACKS_ENABLED)
"""

import collections
import json
import os

from ansible.plugins.callback import CallbackBase

# mailtls.postfix.declare maps a role's variables on the controller (its action never connects).
CONTROLLER_ONLY = {"set_fact", "debug", "assert", "fail", "meta", "include_role", "import_role", "validate_argument_spec",
                   "include_tasks", "import_tasks", "include_vars", "add_host", "group_by", "pause", "declare"}
RELOADS = {"Reload Postfix", "Restart Postfix", "reload postfix", "restart postfix"}


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "mailtls_roundtrips"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.hosts = collections.defaultdict(collections.Counter)

    def _count(self, result, failed=False):
        action = result._task.action.rsplit(".", 1)[-1]
        counts = self.hosts[result._host.get_name()]
        if action in CONTROLLER_ONLY:
            counts["controller_tasks"] += 1
            return
        if result._task.delegate_to:  # another host's round trip (localhost's, most often), not this one's
            counts["delegated"] += 1
            return
        items = result._result.get("results")
        ran = [item for item in items if not item.get("skipped")] if isinstance(items, list) else [result._result]
        counts["round_trips"] += len(ran)
        counts["changed"] += sum(1 for item in ran if item.get("changed"))
        counts["failed"] += int(failed)
        if action == "tls_probe":
            counts["probes"] += len(ran)
        if action == "tls_profile":  # probes and reloads inside the one call
            counts["probes"] += sum(len(item.get("probes") or {}) for item in ran)
            counts["reloads"] += sum(1 for item in ran if item.get("reloaded"))
        elif result._task.name in RELOADS or (action in ("service", "systemd")
                                              and any("reload" in str(item.get("state")) for item in ran)):
            counts["reloads"] += len(ran)

    def v2_runner_on_ok(self, result):
        self._count(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._count(result, failed=not ignore_errors)

    def v2_runner_on_unreachable(self, result):
        self.hosts[result._host.get_name()]["unreachable"] += 1

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("MAILTLS_ROUNDTRIPS_FILE")
        if path:
            with open(path, "w") as out:
                json.dump(dict((host, dict(counts)) for host, counts in self.hosts.items()), out)
