"""Every environment, behind the PettingZoo API.

``make(name, **kwargs)`` builds any registered game; ``registry()`` lists them. Simultaneous-move
games are ``pettingzoo.ParallelEnv``; turn-based games are ``pettingzoo.AECEnv``. Conventions every
family follows:

- agents are named ``player_0``, ``player_1``, ... (families may use role names such as
  ``pursuer_0``/``evader_0`` or ``vehicle_12``/``signal_3``);
- spaces are built once and cached: ``observation_space(agent)`` returns the same object;
- where actions can be illegal, the observation is a dict
  ``{"observation": ..., "action_mask": int8 array}``, and an action the mask forbids raises
  ``ValueError``: it is never replaced by another action nor penalised. Sample legal actions
  with ``env.action_space(agent).sample(obs[agent]["action_mask"])``; PettingZoo's test tools
  that sample without the mask (``max_cycles_test``) apply where no action is masked;
- ``reset(seed=s)`` makes the episode reproducible: same seed and actions, same trajectory;
- ``render_mode`` is accepted (``"rgb_array"`` returns an ``(H, W, 3)`` uint8 frame,
  ``"human"`` shows it in a pygame window);
- tabular games export arrays through ``tabular()`` for the solvers.

Importing this package registers our Markov games with pyspiel (``metagame_soccer`` and
friends, see ``metagame.envs.markov.spiel``), as ``open_spiel.python.games`` does for
OpenSpiel's own Python games, so ``pyspiel.load_game("metagame_soccer")`` works in any process
that imported ``metagame.envs`` (RLlib workers included). It costs the import of pyspiel only.
"""

from metagame.envs.markov import spiel as _spiel
from metagame.envs.registration import EnvSpec, check_kwargs, make, register, registry
from metagame.envs.replay import Replay

_spiel.register()

__all__ = ["EnvSpec", "Replay", "check_kwargs", "make", "register", "registry"]
