"""Learned traffic drivers: intent inference, the driver policy, training and shipped weights."""

from pathlib import Path

import numpy as np
import pytest

from metagame.agents import IDMPolicy, play
from metagame.agents.policy import RandomPolicy, load_policy, save_policy
from metagame.agents.traffic_drivers.evaluation import Outcomes, episode_outcomes
from metagame.agents.traffic_drivers.intent import (
    HISTORY,
    IntentNet,
    KinematicsHistory,
    intent_step,
    labelled_slots,
    nearest_slots,
)
from metagame.agents.traffic_drivers.learned_driver import OPTIONS, LearnedDriverPolicy
from metagame.agents.traffic_drivers.training import DriverSettings, new_driver, train_driver
from metagame.envs import make
from metagame.envs.traffic import core
from metagame.envs.traffic.drivers import LENGTH, TYPE_PARAMS
from metagame.envs.traffic.observe import NEIGHBOUR_FEATURES

SHIPPED = Path(__file__).resolve().parents[2] / "metagame" / "data" / "traffic_drivers"
CHAOTIC = dict(scenario="intersection", traffic="chaotic", num_controlled=4, max_steps=40)


def _idm_steps(env, seed, steps):
    """Yields the observations of ``steps`` steps of IDM-driven vehicles."""
    observations, _ = env.reset(seed=seed)
    IDMPolicy().bind(env)
    for _ in range(steps):
        if not env.agents:
            return
        yield observations
        observations, *_ = env.step({a: 0 for a in env.agents})


@pytest.mark.parametrize("seed", [0, 5])
def test_nearest_slots_are_the_vehicles_of_the_observed_neighbour_rows(seed):
    env = make("traffic", **CHAOTIC)
    k = env.k_nearest
    checked = 0
    for observations in _idm_steps(env, seed, 25):
        egos = np.array([env.agent_slot(a) for a in env.agents])
        slots = nearest_slots(env, egos, k)
        idx, xy, heading = env.world_positions()
        where = {int(s): n for n, s in enumerate(idx)}
        for e, agent in enumerate(env.agents):
            rows = observations[agent]["observation"][: k * NEIGHBOUR_FEATURES].reshape(k, -1)
            np.testing.assert_array_equal(rows[:, 0] > 0, slots[e] >= 0)
            h, p = heading[where[int(egos[e])]], xy[where[int(egos[e])]]
            for n in np.flatnonzero(slots[e] >= 0):
                rel = xy[where[int(slots[e, n])]] - p
                forward, left = h @ rel, h[0] * rel[1] - h[1] * rel[0]
                np.testing.assert_allclose(rows[n, 1:3] * env.obs_range, [forward, left], atol=1e-3)
                checked += 1
    assert checked > 50


def test_history_records_speed_fractions_once_a_step_and_restarts_for_new_vehicles():
    env = make("traffic", **CHAOTIC)
    history = KinematicsHistory()
    seen_uids: set[int] = set()
    for _ in _idm_steps(env, 3, 20):
        history.update(env)
        before = history.fraction.copy()
        history.update(env)  # the same step again: nothing changes
        np.testing.assert_array_equal(history.fraction, before)
        active = np.flatnonzero(env.ints[core.STATUS] == core.ACTIVE)
        limit = env.net.link_speed[env.net.lane_link[env.ints[core.LANE, active]]]
        np.testing.assert_allclose(
            history.fraction[-1, active], env.floats[core.SPEED, active] / limit
        )
        for slot in active:
            uid = int(env.ints[core.UID, slot])
            if uid not in seen_uids:  # a vehicle seen for the first time has no past
                assert history.seen[slot] == 1
                assert np.all(history.fraction[:, slot] == history.fraction[-1, slot])
                assert np.all(history.change[:, slot] == 0.0)
            seen_uids.add(uid)
        assert history.seen.max() <= HISTORY
    assert len(seen_uids) > 15


def _labelled(env, seeds, steps):
    history, xs, ys = KinematicsHistory(), [], []
    for seed in seeds:
        for _ in _idm_steps(env, seed, steps):
            history.update(env)
            slots, kinds = labelled_slots(env)
            keep = history.seen[slots] == HISTORY  # a full history
            xs.append(history.features(slots[keep]))
            ys.append(kinds[keep])
    return np.concatenate(xs), np.concatenate(ys)


def test_intent_net_infers_driver_types_better_than_the_most_common_type():
    """On the highway, where free-flow speeds tell the types apart (at the intersection's
    queues the speed history alone does no better than guessing the most common type)."""
    import torch

    torch.manual_seed(0)
    env = make("traffic", **dict(CHAOTIC, scenario="highway", traffic="mild", max_steps=60))
    x, y = _labelled(env, range(6), 60)
    x_test, y_test = _labelled(env, range(100, 103), 60)
    net = IntentNet()
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    for _ in range(40):
        intent_step(net, optimizer, x, y, rng)
    accuracy = float(np.mean(net.probabilities(x_test).argmax(axis=1) == y_test))
    majority = np.bincount(y_test, minlength=3).max() / len(y_test)
    assert accuracy > majority + 0.05, (accuracy, majority)


def test_the_intent_driver_drives_with_the_chosen_style_on_the_autopilot():
    env = make("traffic", **CHAOTIC)
    policy = new_driver("intent", env.k_nearest, DriverSettings(), seed=0)
    observations, _ = env.reset(seed=1)
    policy.bind(env)
    lengths = {a: env.params[LENGTH, env.agent_slot(a)] for a in env.agents}
    actions = policy.act_batch([observations[a] for a in env.agents])
    assert np.all(actions == 0)  # "keep": the autopilot drives
    for agent in env.agents:
        slot = env.agent_slot(agent)
        assert env.ints[core.CTRL, slot] == -1  # on the autopilot
        row = env.params[:, slot]
        assert row[LENGTH] == lengths[agent]  # its own length, an option's driving
        styles = np.delete(TYPE_PARAMS[: len(OPTIONS)], LENGTH, axis=1)
        assert np.any(np.all(np.delete(row, LENGTH) == styles, axis=1))


def test_learners_improve_over_random_meta_actions():
    """Tiny budget: a few PPO iterations on a short intersection episode."""
    kwargs = dict(scenario="intersection", traffic="mild", num_controlled=4, max_steps=40)
    settings = DriverSettings(env_kwargs=dict(num_controlled=4, max_steps=40, k_nearest=5))
    env = make("traffic", **kwargs)
    random_return = play(
        "traffic", {"vehicle": RandomPolicy(env.action_space("vehicle_0"), seed=0)},
        episodes=10, seed=500, env_kwargs=kwargs,
    ).returns.mean()  # fmt: skip
    for features in ("env", "intent"):
        untrained = play(
            "traffic", {"vehicle": new_driver(features, 5, settings, 0)}, episodes=10, seed=500,
            env_kwargs=kwargs,
        ).returns.mean()  # fmt: skip
        policy = train_driver(
            features, settings, iterations=6, scenarios=(("intersection", "mild"),)
        )
        trained = play(
            "traffic", {"vehicle": policy}, episodes=10, seed=500, env_kwargs=kwargs
        ).returns.mean()
        assert trained > random_return + 0.5, (features, trained, random_return)
        if features == "env":  # PPO itself learns: the untrained network crashes as often
            assert trained > untrained + 0.5, (trained, untrained)


def test_a_driver_round_trips_through_save_and_load_policy(tmp_path):
    env = make("traffic", **CHAOTIC)
    for features in ("intent", "env"):
        policy = new_driver(features, env.k_nearest, DriverSettings(), seed=3)
        policy.greedy = True
        loaded = load_policy(save_policy(policy, tmp_path / features))
        assert isinstance(loaded, LearnedDriverPolicy) and loaded.features == features
        assert episode_outcomes(env, loaded, 7) == episode_outcomes(env, policy, 7)


def test_a_malformed_checkpoint_is_refused_naming_the_key(tmp_path):
    env = make("traffic", **CHAOTIC)
    path = save_policy(new_driver("intent", env.k_nearest, DriverSettings(), 0), tmp_path / "d")
    meta = (path / "policy.json").read_text().replace('"features": "intent"', '"features": "x"')
    (path / "policy.json").write_text(meta)
    with pytest.raises(ValueError, match="features"):
        load_policy(path)


@pytest.mark.parametrize(
    "scenario, traffic",
    [
        ("intersection", "mild"),
        ("intersection", "chaotic"),
        ("highway", "mild"),
        ("highway", "chaotic"),
    ],
)
def test_the_shipped_learned_driver_reaches_its_benchmark_figure_on_a_fixed_seed(scenario, traffic):
    """benchmarks/traffic_learned.py's first episode (seed 1,000,000): greedy, every
    controlled vehicle arrives and none crashes, as IDM/MOBIL also manages on it."""
    kwargs = dict(scenario=scenario, traffic=traffic, num_controlled=4, max_steps=100)
    policy = load_policy(SHIPPED / "learned_driver")
    assert policy.greedy and policy.features == "intent"
    ours = episode_outcomes(make("traffic", **kwargs), policy, 1_000_000)
    idm = episode_outcomes(make("traffic", **kwargs), IDMPolicy(), 1_000_000)
    assert ours == Outcomes(4, 4, 0)
    assert ours.arrived >= idm.arrived and ours.crashed <= idm.crashed
