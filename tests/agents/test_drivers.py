"""IDMPolicy: controlled traffic vehicles driven by the background drivers' IDM/MOBIL."""

import numpy as np
import pytest

from metagame.agents import IDMPolicy, RandomPolicy, play
from metagame.envs import make
from metagame.envs.traffic import core

SEEDS = range(8)
INTERSECTION = dict(scenario="intersection", num_controlled=4, traffic="chaotic", max_steps=150)


def _drive(env, policy, seed):
    """One episode with ``policy`` driving every agent; the controlled vehicles' outcomes."""
    obs, _ = env.reset(seed=seed)
    policy.bind(env)
    outcomes = {}
    while env.agents:
        actions = dict(zip(env.agents, policy.act_batch([obs[a] for a in env.agents])))
        obs, _, terminations, _, infos = env.step(actions)
        for agent, done in terminations.items():
            if done:
                outcomes[agent] = "arrived" if infos[agent]["arrived"] else "crashed"
    return outcomes


def test_idm_drivers_never_crash_and_all_arrive_at_the_intersection():
    env = make("traffic", **INTERSECTION)
    policy = IDMPolicy()
    for seed in SEEDS:
        outcomes = _drive(env, policy, seed)
        assert outcomes == {a: "arrived" for a in env.possible_agents}, seed


def test_random_meta_actions_crash_on_the_same_seeds():
    """The check above can fail: random drivers on the same seeds do crash."""
    env = make("traffic", **INTERSECTION)
    crashed = 0
    for seed in SEEDS:
        obs, _ = env.reset(seed=seed)
        policy = RandomPolicy(env.action_space("vehicle_0"), seed=seed)
        while env.agents:
            actions = {a: policy.act(obs[a]) for a in env.agents}
            obs, _, _, _, infos = env.step(actions)
            crashed += sum(bool(info.get("crashed")) for info in infos.values())
    assert crashed > 0


def _trajectory(env, steps, act):
    """Lane, position and speed of every slot after each step."""
    out = []
    for _ in range(steps):
        env.step(act(env))
        out.append(np.stack([env.ints[core.LANE], env.floats[core.POS], env.floats[core.SPEED]]))
    return np.array(out)


@pytest.mark.parametrize("seed", [0, 3])
def test_idm_policy_drives_like_a_background_vehicle_started_in_the_same_state(seed):
    kwargs = dict(INTERSECTION, num_controlled=1, max_steps=60)
    driven = make("traffic", **kwargs)
    driven.reset(seed=seed)
    policy = IDMPolicy()
    policy.bind(driven)
    # The same episode where the controlled vehicle is turned into a background one.
    background = make("traffic", **kwargs)
    background.reset(seed=seed)
    slot = background.agent_slot("vehicle_0")
    assert slot >= 0 and background.ints[core.CTRL, slot] == 0
    background.ints[core.CTRL, slot] = -1
    assert np.array_equal(driven.ints, background.ints)
    assert np.array_equal(driven.floats, background.floats)

    ours = _trajectory(driven, 40, lambda env: {a: policy.act(None) for a in env.agents})
    theirs = _trajectory(background, 40, lambda env: {})
    np.testing.assert_array_equal(ours, theirs)
    assert ours[:, 1, slot].max() > 50.0  # it drove


def test_idm_policy_through_play_and_its_errors():
    results = play("traffic", {"vehicle": IDMPolicy()}, episodes=2, seed=0, env_kwargs=INTERSECTION)
    assert results.returns.shape == (2, 4)
    assert np.all(results.returns > 0)  # progress and arrival, never a collision penalty
    with pytest.raises(ValueError, match="bind"):
        IDMPolicy().act(None)
    with pytest.raises(ValueError, match="traffic envs only"):
        IDMPolicy().bind(make("soccer"))
    with pytest.raises(ValueError, match="vehicle agent"):
        IDMPolicy(agents=["signal_0"]).bind(make("traffic", **INTERSECTION))


def test_idm_policy_with_a_style_drives_every_vehicle_with_that_types_parameters():
    from metagame.envs.traffic.drivers import LENGTH, TYPE_PARAMS

    env = make("traffic", **INTERSECTION)
    policy = IDMPolicy(style="aggressive")
    outcomes = _drive(env, policy, 2)
    assert outcomes == {a: "arrived" for a in env.possible_agents}
    obs, _ = env.reset(seed=4)
    policy.bind(env)
    own = {a: env.params[:, env.agent_slot(a)].copy() for a in env.agents}
    policy.act_batch([obs[a] for a in env.agents])
    for agent, before in own.items():
        row = env.params[:, env.agent_slot(agent)]
        assert row[LENGTH] == before[LENGTH]
        np.testing.assert_array_equal(np.delete(row, LENGTH), np.delete(TYPE_PARAMS[2], LENGTH))
    with pytest.raises(ValueError, match="style"):
        IDMPolicy(style="sumo")
