"""The observation convention of every game with illegal actions.

Such a game observes ``{OBS_KEY: observation, MASK_KEY: int8 mask}``, the mask holding 1 for
each legal action (PettingZoo's convention, as in its classic games). Environments build the
space with :func:`masked_space`; policies and encoders read the two keys named here.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

OBS_KEY = "observation"
MASK_KEY = "action_mask"


def masked_space(observation: spaces.Space, num_actions: int) -> spaces.Dict:
    """The observation space of an agent with ``num_actions`` actions, some of them illegal."""
    return spaces.Dict(
        {OBS_KEY: observation, MASK_KEY: spaces.Box(0, 1, (num_actions,), dtype=np.int8)}
    )


def is_masked(space: spaces.Space) -> bool:
    """True for the ``{OBS_KEY, MASK_KEY}`` dict convention."""
    return isinstance(space, spaces.Dict) and set(space.spaces) == {OBS_KEY, MASK_KEY}
