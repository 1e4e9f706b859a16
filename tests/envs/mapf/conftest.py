"""Shared construction for the MAPF env tests."""

import numpy as np
import pytest

from metagame.envs import make


@pytest.fixture
def corridor():
    """``corridor(starts, goals)``: a finish-mode env on an empty 1x4 corridor."""

    def build(starts, goals):
        return make("mapf", map=np.zeros((1, 4), dtype=bool), num_agents=len(starts),
                    on_target="finish", starts=np.array(starts), goals=np.array(goals))  # fmt: skip

    return build
