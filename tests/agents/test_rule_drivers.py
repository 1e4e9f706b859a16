"""Rule-based traffic drivers as RLModules (metagame.agents.rllib.drivers): the batched torch
rule against a one-vehicle reference on real observations, checkpoint round trips, and their
driving against random play on the intersection."""

import math

import numpy as np
import pytest
import torch
from ray.rllib.core.columns import Columns

from metagame.agents.arena import play
from metagame.agents.policy import load_policy, save_policy
from metagame.agents.rllib.drivers import (
    JUNCTION_SPAN,
    TrafficDriverRLModule,
    driver_parameters,
    driver_spec,
    idm_actions,
)
from metagame.agents.rllib.encoding import ObservationCodec
from metagame.envs import make
from metagame.envs.traffic.drivers import TRAFFIC_MIX, TYPE_PARAMS

KW = {"scenario": "intersection", "num_controlled": 4, "max_steps": 60}
SPEED_SCALE, SPEED_STEP, LANE_WIDTH = 40.0, 0.25, 3.5


def reference_action(obs, k, obs_range, p):
    """The rule for one vehicle, in plain floats (names from the env's observation layout)."""
    v0, T, a, b, s0, _, _, t_c, length = p
    ego = obs[5 * k :]
    limit = ego[5] * SPEED_SCALE
    v = ego[0] * limit
    line = ego[4] * obs_range
    gap, v_lead, crossing = math.inf, 0.0, False
    for j in range(k):
        present, fwd, left, dvf, dvl = obs[5 * j : 5 * j + 5]
        if present <= 0:
            continue
        fwd, left = fwd * obs_range, left * obs_range
        if fwd > 0 and abs(left) < LANE_WIDTH / 2 and fwd - length < gap:
            gap, v_lead = fwd - length, v + dvf * SPEED_SCALE
        side = dvl * SPEED_SCALE
        if (
            left * side < 0
            and abs(left) >= LANE_WIDTH / 2
            and abs(left) < t_c * abs(side)
            and -length < fwd < line + JUNCTION_SPAN
        ):
            crossing = True
    stop = (ego[6] < 0.75 or ego[8] > 0 or (crossing and line > 1.0)) and ego[15] < 0.5
    if stop and line < gap:
        gap, v_lead = line, 0.0
    s_star = s0 + max(0.0, v * T + v * (v - v_lead) / (2 * math.sqrt(a * b)))
    interaction = (s_star / max(gap, 0.1)) ** 2 if math.isfinite(gap) else 0.0
    accel = a * (1 - (v / (v0 * limit)) ** 4 - interaction)
    aim = min(max(v + accel, 0.0), v0 * limit) / limit
    if aim >= ego[1] + SPEED_STEP / 2:
        return 1
    return 2 if aim <= ego[1] - SPEED_STEP / 2 else 0


def observations(episodes=3):
    """Vehicle observations along real episodes driven by uniform legal actions."""
    env = make("traffic", **KW)
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(episodes):
        obs, _ = env.reset(seed=seed)
        while env.agents:
            rows += [obs[a]["observation"] for a in env.agents]
            actions = {
                a: int(rng.choice(np.flatnonzero(obs[a]["action_mask"]))) for a in env.agents
            }
            obs, *_ = env.step(actions)
    return np.array(rows, dtype=np.float32)


@pytest.mark.parametrize("driver", ["mild", "chaotic"])
def test_the_batched_rule_matches_the_one_vehicle_reference(driver):
    params, _ = driver_parameters(driver)
    x = observations()
    got = idm_actions(torch.from_numpy(x), 5, 100.0, params).numpy()
    want = [reference_action(row.astype(np.float64), 5, 100.0, params) for row in x]
    np.testing.assert_array_equal(got, want)
    assert len(set(want)) == 3  # keep, faster and slower all occur


def test_driver_parameters_are_the_mixes_mean_and_noise():
    params, noise = driver_parameters("chaotic")
    np.testing.assert_allclose(
        params, 0.1 * TYPE_PARAMS[0] + 0.4 * TYPE_PARAMS[1] + 0.5 * TYPE_PARAMS[2]
    )
    assert noise == TRAFFIC_MIX["chaotic"][1] == 0.2
    with pytest.raises(ValueError, match="driver must be one of"):
        driver_parameters("reckless")


def test_the_module_plays_the_rule_with_the_mixes_noise_over_legal_actions():
    spec = driver_spec("chaotic", KW)
    module = spec.build()
    codec = ObservationCodec(make("traffic", **KW).observation_space("vehicle_0"))
    env = make("traffic", **KW)
    obs, _ = env.reset(seed=4)
    batch = np.stack([codec.encode(obs[a]) for a in env.agents])
    out = module.forward_inference({Columns.OBS: torch.from_numpy(batch)})
    probs = torch.softmax(out[Columns.ACTION_DIST_INPUTS], -1).numpy()
    masks = np.stack([obs[a]["action_mask"] for a in env.agents])
    rule = idm_actions(torch.from_numpy(batch[:, :-8]), 5, 100.0, module.params).numpy()
    for p, m, r in zip(probs, masks, rule):
        assert np.isclose(p.sum(), 1.0) and np.all(p[m == 0] < 1e-6)
        expected = 0.2 * m / m.sum()
        expected[r if m[r] else 0] += 0.8
        np.testing.assert_allclose(p, expected, atol=1e-6)


def test_a_driver_checkpoint_round_trips_and_refuses_other_games(tmp_path):
    module = driver_spec("mild", KW).build()
    policy = load_policy(save_policy(module, tmp_path / "mild"))
    assert isinstance(policy.module, TrafficDriverRLModule) and policy.module.noise == 0.05
    with pytest.raises(ValueError, match="a traffic driver drives a vehicle agent"):
        driver_spec("mild", {"scenario": "grid", "num_controlled": 0, "control_signals": True})
    mapf = make("mapf", num_agents=2)
    with pytest.raises(ValueError, match="drives traffic vehicles"):
        TrafficDriverRLModule(
            observation_space=ObservationCodec(mapf.observation_space("player_0")).space,
            action_space=mapf.action_space("player_0"),
            model_config={"driver": "mild"},
        )


class UniformLegal:
    id = "random"

    def reset(self, seed=None):
        self.rng = np.random.default_rng(seed)

    def act(self, observation, mask=None):
        return int(self.rng.choice(np.flatnonzero(mask)))

    def act_batch(self, observations, masks=None):
        return np.array([self.act(o, m) for o, m in zip(observations, masks)])


def test_the_mild_driver_drives_better_than_random_play_and_the_chaotic_one(tmp_path):
    """Mean vehicle return over the same 12 intersection episodes: the mild driver's above
    uniform random play's (which crashes at the junction) and above the chaotic driver's."""
    kwargs = {**KW, "max_steps": 100}
    returns = {}
    for name in ("mild", "chaotic"):
        policy = load_policy(save_policy(driver_spec(name, kwargs).build(), tmp_path / name))
        returns[name] = play("traffic", {"vehicle": policy}, episodes=12, env_kwargs=kwargs)
    returns["random"] = play("traffic", {"vehicle": UniformLegal()}, episodes=12, env_kwargs=kwargs)
    mean = {k: float(r.returns.mean()) for k, r in returns.items()}
    assert mean["mild"] > mean["random"] + 1.0 and mean["mild"] > mean["chaotic"], mean
