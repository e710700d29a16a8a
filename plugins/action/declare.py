# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mailtls.postfix.declare: a role's variables mapped to what it asks of tls_profile (controller only).

Thin: reads the variables and the role's files, and leaves every decision to
plugins/plugin_utils/role_declarations.py.
"""

from __future__ import annotations

import os

from ansible import context
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.yaml import yaml_load
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.mailtls.postfix.plugins.plugin_utils import role_declarations

display = Display()
ROLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "roles")


def role_variables_spec(role):
    """The options of the role's main entry point: the one list of its variables and their types.

    The internal entry points (declare, apply) take the same variables and list none, so that
    ansible-doc shows each variable once; this action checks them for every entry point.
    """
    path = os.path.join(ROLES_DIR, role, "meta", "argument_specs.yml")
    with open(path) as handle:
        # yaml_load: libyaml's loader where it is there, 10x faster, once per role and host.
        return yaml_load(handle)["argument_specs"]["main"]["options"]


def play_roles_and_declaring(task, role):
    """The play's ``roles:`` list as (name, conditional), and the index of the profile role running ``task``."""
    declaring, play, ancestor = None, None, task
    while ancestor is not None:
        owner = getattr(ancestor, "_role", None)
        if declaring is None and owner is not None and owner.get_name() == "mailtls.postfix." + role:
            declaring = owner
        play = play or getattr(ancestor, "_play", None)
        ancestor = getattr(ancestor, "_parent", None)
    listed = [listed_role for listed_role in (play.get_roles() if play else []) if not listed_role.from_include]
    index = next((number for number, listed_role in enumerate(listed) if listed_role is declaring), None)
    return [(listed_role.get_name(), bool(listed_role.when)) for listed_role in listed], index


def run_is_selective():
    """Whether the command line runs only some tasks (tags, start at a task, step)."""
    args = context.CLIARGS
    return bool(set(args.get("tags") or ()) - {"all"} or args.get("skip_tags") or args.get("start_at_task")
                or args.get("step"))


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        _spec, args = self.validate_argument_spec(argument_spec=dict(
            role=dict(type="str", required=True, choices=list(role_declarations.PROFILE_ROLES) + ["server"]),
        ))
        role = args["role"]
        spec = role_variables_spec(role)
        known = set(spec)
        prefix = role + "_"
        given = [name for name in task_vars if name.startswith(prefix)]
        if role == "server":
            # server_ is too common a prefix to refuse (server_state is the role's own result, a
            # playbook may have its own server_name): a name close to one of the role's is said.
            # Said by the controller: this action's result is censored (it may hold a password).
            for message in role_declarations.misspelt_variables(role, given, known):
                display.warning(message)
        else:
            try:
                role_declarations.check_known(role, given, known)
            except role_declarations.UnknownVariable as error:
                raise AnsibleActionFail(str(error))
        templated = self._templar.template(dict((name, task_vars[name]) for name in known if name in task_vars))
        problems = ArgumentSpecValidator(spec).validate(templated).error_messages
        if problems:
            raise AnsibleActionFail("mailtls.postfix.%s: %s" % (role, "; ".join(problems)))
        variables = dict((name[len(prefix):], value) for name, value in templated.items())
        try:
            data = role_declarations.distribution(
                self._templar.template(task_vars["__server_distributions"]),
                (task_vars.get("ansible_facts") or {}).get("os_family")
                or self._templar.template(task_vars["__server_os_family_without_facts"]))
        except KeyError:
            raise AnsibleActionFail("the distribution data of mailtls.postfix.server (its vars/main.yml) is not "
                                    "loaded: run this action from that role")
        except ValueError as error:
            raise AnsibleActionFail(str(error))
        declarations = list(self._templar.template(task_vars.get("server_declarations") or []))
        # Which role each declaration came from: a refusal is told in that role's variables.
        result["declared_roles"] = list(task_vars.get("server_declared_roles") or [])
        try:
            if role == "server":
                result["arguments"] = role_declarations.server_arguments(variables, declarations, data)
                result["switches"] = role_declarations.server_switches(variables)
            else:
                result["declaration"] = role_declarations.owned_declaration(role, variables, data)
                result["declarations"] = declarations + [result["declaration"]]
                result["declared_roles"].append(role)
                # One tls_profile call per host and play: a later profile role applies for this one.
                result["apply_later"] = role_declarations.a_later_role_applies(
                    *play_roles_and_declaring(self._task, role), run_is_selective=run_is_selective())
        except KeyError as error:
            raise AnsibleActionFail("%s%s is undefined: run this action from the role mailtls.postfix.%s, whose "
                                    "defaults define it" % (prefix, error.args[0], role))
        except ValueError as error:  # variables that contradict each other
            raise AnsibleActionFail(str(error))
        result["changed"] = False
        # A declaration may hold a relay's password or a private key: its result is shown as
        # censored, and is registered for the set_fact that keeps it. An error above is shown.
        result["_ansible_no_log"] = True
        return result
