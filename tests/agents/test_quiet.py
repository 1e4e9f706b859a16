"""Training prints none of Ray's and RLlib's start-up notices that say nothing to a user, and
the filters drop only those messages."""

import logging
import subprocess
import sys
import textwrap

from metagame.agents.rllib.quiet import NOTICES, DropNotice, quiet_notices

SCRIPT = textwrap.dedent(
    """
    from metagame.agents import rllib_config
    from metagame.agents.rllib.cluster import init_ray

    init_ray(num_cpus=1)
    config = rllib_config("openspiel:kuhn_poker", algo="PPO").training(
        train_batch_size_per_learner=64, minibatch_size=32, num_epochs=1
    )
    algo = config.env_runners(num_env_runners=0).build_algo()
    print("sampled", algo.train()["env_runners"]["num_env_steps_sampled"])
    """
)


def test_training_output_has_no_notices():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "sampled" in out.stdout
    for text in NOTICES.values():
        assert text not in out.stdout + out.stderr


def test_filters_drop_only_their_message(caplog):
    quiet_notices()
    quiet_notices()  # idempotent: one filter per logger
    for name, text in NOTICES.items():
        logger = logging.getLogger(name)
        assert sum(isinstance(f, DropNotice) for f in logger.filters) == 1
        with caplog.at_level(logging.WARNING, logger=name):
            caplog.clear()
            logger.warning("before %s after", text)
            logger.warning("something else the user should see")
        assert [r.getMessage() for r in caplog.records] == ["something else the user should see"]
