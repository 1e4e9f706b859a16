"""The traffic env's PettingZoo API, seeding, actions, rewards, metrics and rendering."""

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

from metagame.envs import make
from metagame.envs.traffic import observe as traffic_env
from metagame.envs.traffic.core import ACTIVE, CTRL, KIND, LANE, STATUS, TARGET
from metagame.envs.traffic.render import CONTROLLED_COLOR, DRIVER_COLORS, TrafficRenderer

SCENARIOS = ["intersection", "grid", "highway", "roundabout"]


def _kwargs(scenario):
    return dict(
        scenario=scenario,
        num_controlled=5,
        num_vehicles=12,
        inflow=900.0,
        control_signals=scenario == "grid",
        grid_size=2,
        max_steps=60,
        seed=0,
    )


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_parallel_api(scenario):
    env = make("traffic", **_kwargs(scenario))
    parallel_api_test(env, num_cycles=60)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_parallel_seed(scenario):
    parallel_seed_test(lambda: make("traffic", **_kwargs(scenario)), num_cycles=30)


def test_agents_enter_mid_episode_from_the_pool():
    env = make(
        "traffic",
        scenario="intersection",
        num_controlled=7,
        num_vehicles=0,
        inflow=0.0,
        max_steps=80,
        seed=1,
    )
    obs, _ = env.reset(seed=1)
    first = set(env.agents)
    assert len(first) == 4  # one per source link at the start
    seen = set(first)
    while env.agents:
        obs, *_ = env.step({a: traffic_env.KEEP for a in env.agents})
        assert set(env.agents) <= set(env.possible_agents)
        assert set(env.agents) <= set(obs)
        seen |= set(env.agents)
    assert seen == set(env.possible_agents)


def test_action_masks_follow_lanes_and_routes():
    env = make("traffic", scenario="highway", num_controlled=1, num_vehicles=0, inflow=0.0, seed=0)
    obs, _ = env.reset(seed=0)
    agent = env.agents[0]
    i = env.agent_slot(agent)
    lanes = env.net.link_lanes[env.net.lane_link[env.ints[LANE, i]]]
    index = env.net.lane_index[env.ints[LANE, i]]
    mask = obs[agent]["action_mask"]
    assert mask[traffic_env.LANE_LEFT] == (index + 1 < lanes)
    assert mask[traffic_env.LANE_RIGHT] == (index > 0)
    assert list(mask[traffic_env.ROUTE_LEFT :]) == [0, 1, 0]  # only straight on a highway
    target = env.floats[TARGET, i]
    obs, *_ = env.step({agent: traffic_env.FASTER})
    assert env.floats[TARGET, i] == pytest.approx(min(target + 0.25, 1.0))
    lane = env.ints[LANE, i]
    if obs[agent]["action_mask"][traffic_env.LANE_LEFT]:
        env.step({agent: traffic_env.LANE_LEFT})
        assert env.ints[LANE, i] == lane + 1
    single = make(
        "traffic", scenario="roundabout", num_controlled=1, num_vehicles=0, inflow=0.0, seed=0
    )
    obs, _ = single.reset(seed=0)
    mask = obs["vehicle_0"]["action_mask"]
    assert mask[traffic_env.LANE_LEFT] == 0 and mask[traffic_env.LANE_RIGHT] == 0


def test_lone_vehicle_arrives_with_bonus_and_metrics():
    env = make(
        "traffic",
        scenario="intersection",
        num_controlled=1,
        num_vehicles=0,
        inflow=0.0,
        max_steps=100,
        seed=2,
    )
    obs, _ = env.reset(seed=2)
    total, steps = 0.0, 0
    while env.agents:
        obs, rewards, terms, truncs, infos = env.step({"vehicle_0": traffic_env.FASTER})
        total += rewards["vehicle_0"]
        steps += 1
    assert terms["vehicle_0"] and infos["vehicle_0"]["arrived"]
    assert rewards["vehicle_0"] > 1.0  # arrival bonus
    m = infos["vehicle_0"]["metrics"]
    assert m["success_rate"] == 1.0 and m["collision_rate"] == 0.0
    assert (steps - 1) * env.step_time < m["survival_time"] <= steps * env.step_time + 1e-9
    assert 0 < total - 1.0 <= 0.1 * steps + 1e-9


def test_rear_end_crash_is_penalised():
    env = make(
        "traffic",
        scenario="highway",
        num_controlled=1,
        num_vehicles=60,
        inflow=0.0,
        max_steps=200,
        seed=3,
    )
    obs, _ = env.reset(seed=3)
    while env.agents:  # full speed ahead, never brakes, never changes lane
        obs, rewards, terms, truncs, infos = env.step({"vehicle_0": traffic_env.FASTER})
    assert terms["vehicle_0"] and infos["vehicle_0"]["crashed"]
    assert rewards["vehicle_0"] < -4.0
    assert infos["vehicle_0"]["metrics"]["collision_rate"] == 1.0


def test_signal_observation_and_reward():
    env = make(
        "traffic",
        scenario="grid",
        grid_size=2,
        num_controlled=0,
        control_signals=True,
        num_vehicles=60,
        inflow=1800.0,
        seed=0,
        max_steps=30,
    )
    obs, _ = env.reset(seed=0)
    assert env.agents == [f"signal_{s}" for s in range(4)]
    for _ in range(20):
        obs, rewards, *_ = env.step({a: 0 for a in env.agents})
    o = obs["signal_0"]["observation"]
    assert o.shape == env.observation_space("signal_0")["observation"].shape
    assert o[:4].sum() > 0  # queues on the approaches
    assert o[4:6].sum() == 1.0  # phase one-hot
    assert all(r < 0 for r in rewards.values())  # delay is a cost


def test_observations_lie_in_their_spaces():
    env = make("traffic", **_kwargs("grid"))
    obs, _ = env.reset(seed=0)
    for _ in range(10):
        for a, o in obs.items():
            assert env.observation_space(a).contains(o), a
        obs, *_ = env.step({a: 0 for a in env.agents})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(scenario="ring"), "scenario"),
        (dict(num_vehicles=10_000), "num_vehicles"),
        (dict(traffic="wild"), "traffic"),
        (dict(scenario="highway", control_signals=True), "signal"),
        (dict(substeps=0), "substeps"),
        (dict(min_green=30.0, green=10.0), "min_green"),
        (dict(speed_limit=3), "speed_limit"),
    ],
)
def test_bad_parameters_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make("traffic", **kwargs)


def test_step_rejects_bad_actions():
    env = make("traffic", num_controlled=1, seed=0)
    with pytest.raises(ValueError, match="vehicle_0"):
        env.step({"vehicle_0": 99})
    with pytest.raises(ValueError, match="signal_0"):
        env.step({"signal_0": 0})


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_rgb_array_draws_vehicles_where_the_state_puts_them(scenario):
    env = make(
        "traffic",
        scenario=scenario,
        num_controlled=2,
        num_vehicles=12,
        render_mode="rgb_array",
        control_signals=scenario == "grid",
        grid_size=2,
        seed=0,
    )
    for _ in range(3):
        env.step({a: 0 for a in env.agents})
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 4  # not blank
    renderer = TrafficRenderer(env)
    idx, xy, _ = env.world_positions()
    pixels = np.rint(renderer.to_pixel(xy) - 0.5).astype(int)
    far = [k for k in range(len(idx)) if np.all(np.delete(np.hypot(*(xy - xy[k]).T), k) > 8.0)]
    # a long network is seen through a camera following the controlled vehicles
    seen = (pixels[:, 0] >= 0) & (pixels[:, 0] < renderer.width)
    seen &= (pixels[:, 1] >= 0) & (pixels[:, 1] < renderer.map_height)
    far = [k for k in far if seen[k]]
    assert len(far) >= 2
    controlled = [k for k in range(len(idx)) if env.ints[CTRL, idx[k]] >= 0]
    assert not controlled or seen[controlled[0]]  # the camera keeps the first one in view
    for k in far:
        i = idx[k]
        want = (
            CONTROLLED_COLOR if env.ints[CTRL, i] >= 0 else tuple(DRIVER_COLORS[env.ints[KIND, i]])
        )
        col, row = pixels[k]
        assert tuple(frame[row, col]) == tuple(want), (scenario, i)
    assert np.sum(env.ints[STATUS] == ACTIVE) == len(idx)


def test_reset_with_seed_repeats_and_without_seed_moves_on():
    env = make("traffic", scenario="roundabout", num_controlled=1, num_vehicles=10, seed=3)
    first = env.floats.copy()
    env.reset()
    second = env.floats.copy()
    env.reset(seed=3)
    np.testing.assert_array_equal(env.floats, first)
    assert not np.array_equal(second, first)
