"""MAPPO: the critic reads the env's global state; MAPPO beats random on a tiny MAPF instance."""

import numpy as np
import pytest
import torch
from ray.rllib.core.columns import Columns  # noqa: E402

from metagame.agents.arena import play  # noqa: E402
from metagame.agents.policy import RandomPolicy, load_policy, save_policy  # noqa: E402
from metagame.agents.rllib import rllib_config  # noqa: E402
from metagame.agents.rllib.mappo import (  # noqa: E402
    STATE_KEY,
    GlobalStateAdapter,
    MAPPOTorchRLModule,
)

TINY = dict(
    map="random-8-8-20", num_agents=4, on_target="finish", max_steps=32, obs_radius=2, seed=0
)


def tiny_config(**hparams):
    return rllib_config("mapf", "MAPPO", env_kwargs=TINY, num_env_runners=0, **hparams)


def first_step(seed: int = 0):
    """Encoded observations and the infos' global state of a reset tiny MAPF env."""
    adapter = GlobalStateAdapter("mapf", TINY)
    obs, infos = adapter.reset(seed=seed)
    agents = list(obs)
    batch = {
        Columns.OBS: {
            k: torch.from_numpy(np.stack([obs[a][k] for a in agents])) for k in obs[agents[0]]
        },
        STATE_KEY: torch.from_numpy(np.stack([infos[a][STATE_KEY] for a in agents])),
    }
    return adapter, batch


def test_infos_carry_the_env_state_for_every_observing_agent():
    adapter, _ = first_step()
    obs, *_, infos = adapter.step({a: 0 for a in adapter.agents})
    state = adapter.env.state()
    assert set(infos) == set(obs)
    for a in obs:
        np.testing.assert_array_equal(infos[a][STATE_KEY], state)


def test_the_critic_values_the_global_state_beyond_the_local_observation():
    module = tiny_config(seed=0).rl_module_spec.rl_module_specs["shared"].build()
    assert isinstance(module, MAPPOTorchRLModule)
    adapter, batch = first_step()
    with torch.no_grad():
        values = module.compute_values(batch)
        # the same local observations with another global state: an agent far away moved
        other = batch[STATE_KEY].clone()
        other[:, 1] = torch.roll(other[:, 1], shifts=(3, 3), dims=(1, 2))
        changed = module.compute_values({**batch, STATE_KEY: other})
        # the same global state with other local observations changes the values too
        local = {k: v.clone() for k, v in batch[Columns.OBS].items()}
        local["observations"] = torch.zeros_like(local["observations"])
        by_local = module.compute_values({**batch, Columns.OBS: local})
    assert values.shape == (len(adapter.agents),)
    assert not torch.allclose(values, changed)
    assert not torch.allclose(values, by_local)
    with pytest.raises(ValueError, match=STATE_KEY):
        module.compute_values({Columns.OBS: batch[Columns.OBS]})


def test_the_actor_ignores_the_global_state():
    module = tiny_config(seed=0).rl_module_spec.rl_module_specs["shared"].build()
    _, batch = first_step()
    with torch.no_grad():
        out = module.forward_inference({Columns.OBS: batch[Columns.OBS]})
        again = module.forward_inference({**batch, STATE_KEY: torch.zeros_like(batch[STATE_KEY])})
    torch.testing.assert_close(out[Columns.ACTION_DIST_INPUTS], again[Columns.ACTION_DIST_INPUTS])


def test_mappo_needs_a_global_state():
    with pytest.raises(ValueError, match="global state"):
        rllib_config("soccer", "MAPPO")


def mean_return(policy, episodes: int, seed: int) -> float:
    results = play("mapf", [policy], episodes=episodes, seed=seed, env_kwargs=TINY)
    return float(results.returns.sum(axis=1).mean())


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
def test_mappo_learns_tiny_mapf_and_batches_the_state(tmp_path):
    torch.set_num_threads(1)  # small networks on a shared machine
    config = tiny_config(train_batch_size=1024, minibatch_size=256, num_epochs=6, lr=1e-3, seed=0)
    trainer = config.build_algo()
    try:
        for _ in range(5):
            trainer.train()
        module = trainer.get_module("shared")
        # what the learner's connector feeds the critic: one valid global state per observation
        episodes = trainer.env_runner.sample(num_timesteps=64)
        learner = trainer.learner_group._learner
        batch = learner._learner_connector(
            rl_module=learner.module, batch={}, episodes=episodes, shared_data={}
        )["shared"]
        states = batch[STATE_KEY].numpy()
        assert len(states) == len(batch[Columns.ACTIONS]) >= 64
        # the appended bootstrap rows repeat a final observation, whose state may have no agent
        # left (finished agents leave the map); every other row is a state of the running game
        real = batch[Columns.LOSS_MASK].numpy().astype(bool)
        assert real.sum() >= 64
        assert (states[:, 0] == adapter_grid()).all()
        agents = states[real, 1].sum(axis=(1, 2))
        assert ((agents >= 1) & (agents <= TINY["num_agents"])).all()
        # one distinct goal per agent on the map ("finish" goals are distinct)
        assert (states[real, 2].sum(axis=(1, 2)) == agents).all()
        path = save_policy(module, tmp_path / "mappo")
    finally:
        trainer.stop()
    policy = load_policy(path, greedy=False, seed=0)
    assert mean_return(policy, 30, seed=100) > mean_return(RandomPolicy(), 30, seed=100) + 1.0


def adapter_grid():
    return GlobalStateAdapter("mapf", TINY).env.grid.astype(np.float32)
