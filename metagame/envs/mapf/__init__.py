"""Grid multi-agent path finding: the environment, Moving AI maps and generators.

``make("mapf", map="random-32-32-10", num_agents=64, on_target="restart", seed=0)`` builds
:class:`~metagame.envs.mapf.env.MAPFEnv`; :mod:`~metagame.envs.mapf.maps` loads and generates
maps; :mod:`~metagame.envs.mapf.core` holds the Numba transition and observation kernels.
"""
