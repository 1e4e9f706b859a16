"""Start-up notices of Ray and RLlib that tell a metagame user nothing, filtered out.

Each filter drops one known message from one logger and lets everything else through:
- "You are running PPO on the new API stack!": metagame always runs the new stack, on purpose;
- "RLModule(config=[RLModuleConfig object]) has been deprecated": RLlib's own
  ``RLModule.__init__`` builds that object for every module, whatever the caller passes;
- "Install gputil for GPU system monitoring.": printed on every machine without GPUtil;
- "Token authentication is enabled for this Ray cluster": Ray's default for a local cluster,
  which metagame keeps (the notice that it is *disabled* still shows).
"""

from __future__ import annotations

import logging

NOTICES = {
    "ray.rllib.algorithms.algorithm_config": "on the new API stack!",
    "ray._common.deprecation": "RLModule(config=[RLModuleConfig",
    "ray.tune.utils.util": "Install gputil",
    "ray._private.authentication.authentication_token_setup": "Token authentication is enabled",
}


class DropNotice(logging.Filter):
    """Drops the records whose message contains ``text``."""

    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def quiet_notices() -> None:
    """Installs the filters (once per logger; calling again changes nothing)."""
    for name, text in NOTICES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropNotice) and f.text == text for f in logger.filters):
            logger.addFilter(DropNotice(text))
