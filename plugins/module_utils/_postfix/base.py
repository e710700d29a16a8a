# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The flow every file-editing module shares (private to the collection).

compute the new text (pure) -> diff -> validate -> lock, re-read, recompute
-> backup -> atomic replace -> file attributes. Check mode runs all of it but
the lock and what follows; a no-op run opens nothing for writing.
"""

from __future__ import annotations

from .commands import Postfix
from .errors import PostfixError
from .files import EditLock, read_text


class FileEditModule(object):
    """Base for the collection's modules; subclasses implement ``execute()``."""

    def __init__(self, module):
        self.module = module
        self.postfix = Postfix(module.get_bin_path, module.run_command)
        self.result = {"changed": False}
        self.warnings = []

    def execute(self):
        raise NotImplementedError

    def edit_file(self, path, compute, validate=None):
        """Edit ``path`` so that it holds ``compute(text)[0]``; return ``(changed, info)``.

        ``compute`` is pure: text -> (new_text, info). ``validate(new_text,
        info)`` raises if Postfix disagrees with the new text; it runs before
        anything is written, also in check mode.
        """
        original = read_text(path)
        new_text, info = compute(original)
        if new_text != original and validate:
            validate(new_text, info)
        if new_text != original and not self.module.check_mode:
            with EditLock(path) as lock:
                current = read_text(path)
                if current != original:
                    # Someone else edited the file since we read it: apply our edit to theirs.
                    original = current
                    new_text, info = compute(original)
                    if new_text != original and validate:
                        validate(new_text, info)
                if new_text != original:
                    if self.module.params.get("backup"):
                        self.result["backup_file"] = self.module.backup_local(path)
                    lock.replace(new_text)
        changed = new_text != original
        if changed and self.module._diff:
            self.result.setdefault("diff", []).append({
                "before": original, "after": new_text,
                "before_header": path, "after_header": path,
            })
        return self._set_attributes(path, changed), info

    def _set_attributes(self, path, changed):
        file_args = self.module.load_file_common_arguments(self.module.params, path=path)
        return self.module.set_fs_attributes_if_different(file_args, changed)


def run_module(module, module_class):
    """Run ``module_class(module).execute()`` and report, turning our errors into fail_json."""
    runner = module_class(module)
    try:
        runner.execute()
    except PostfixError as exc:
        module.fail_json(msg=str(exc), **_fail_details(exc))
    for warning in runner.warnings:
        module.warn(warning)
    module.exit_json(invocation={"module_args": summarized_arguments(module.params)}, **runner.result)


# Ansible echoes every argument back in ``invocation``; for a 100,000-entry table
# that echo costs more than the edit. Larger collections are echoed as a count.
ECHO_LIMIT = 1000


def summarized_arguments(params):
    """Module arguments for the result's ``invocation``, big collections replaced by a count."""
    summary = {}
    for name, value in params.items():
        if isinstance(value, (list, dict)) and len(value) > ECHO_LIMIT:
            value = "(%d items, not echoed)" % len(value)
        summary[name] = value
    return summary


def _fail_details(exc):
    return dict((key, value) for key, value in exc.details.items() if key != "msg")
