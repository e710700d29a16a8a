# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tls_advisor module's work: TLS policies proposed from the mail log, read-only (private).

Thin: the advice is ``host.log_advice`` (which tls_posture's ``advisor`` option runs the same way).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

from ..core.errors import ConfigError
from ..host.base import PostfixModule
from ..host.commands import parse_parameters
from ..host.log_advice import ADVISOR_DEFAULTS, ADVISOR_PARAMETERS, LogAdvice


class TlsAdvisor(PostfixModule):
    """One host's log, read once; one proposal per destination."""

    def execute(self):
        params = self.module.params
        options = dict((name, params[name]) for name in ADVISOR_DEFAULTS)
        advice = LogAdvice(self.postfix, params["config_dir"], options, self.warnings).check(datetime.now(timezone.utc))
        config_dir = params["config_dir"]
        if not os.path.isfile(os.path.join(config_dir, "main.cf")):
            raise ConfigError("config_dir: %s has no main.cf" % config_dir, path=config_dir)
        settings = parse_parameters(self.postfix.run("postconf", ["-c", config_dir, "-x"] + list(ADVISOR_PARAMETERS))[1])
        self.result.update(changed=False, **advice.run(settings))
