"""A play written in one go (``finish_episode``) is the episode RLlib builds step by step.

The reference is RLlib's own ``MultiAgentEpisode.add_env_reset`` / ``add_env_step`` /
``to_numpy``, fed the dicts the turn-based RLlib adapter returns (the acting agent's next
observation with the reward it accumulated, every agent at the end); plays are random turn
orders and rewards (hypothesis), with agents that never act; plays logged in lockstep blocks
(``PlayLog``) are the plays recorded step by step (``PlayRecord``). ``log_episode_metrics`` is
checked against RLlib's own ``MultiAgentEnvRunner.get_metrics`` on the same episodes,
``as_numpy`` against RLlib's ``convert_to_numpy``.
"""

import functools
import gc
from collections import defaultdict
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner
from ray.rllib.env.multi_agent_episode import MultiAgentEpisode
from ray.rllib.env.utils.infinite_lookback_buffer import InfiniteLookbackBuffer
from ray.rllib.utils.metrics.metrics_logger import MetricsLogger
from ray.rllib.utils.numpy import convert_to_numpy

from metagame.agents.rllib.episodes import PlayLog, PlayRecord, finish_episode
from metagame.agents.rllib.vector_env_runner import as_numpy, gc_paused, log_episode_metrics

OBS = 3
ACTIONS = 4


@st.composite
def plays(draw):
    """(agents, acting agent per step, rewards per step per agent)."""
    n = draw(st.integers(2, 3))
    agents = [f"player_{i}" for i in range(n)]
    steps = draw(st.lists(st.sampled_from(agents), min_size=1, max_size=8))
    rewards = draw(
        st.lists(
            st.lists(st.integers(-2, 2).map(float), min_size=n, max_size=n),
            min_size=len(steps),
            max_size=len(steps),
        )
    )
    return agents, steps, rewards


OBS_SPACE = gym.spaces.Box(-9, 9, (OBS,), np.float32)
ACTION_SPACE = gym.spaces.Discrete(ACTIONS)
TEMPLATES = {}  # finish_episode's templates, shared by every play of the property below


def new_episode(agents):
    return MultiAgentEpisode(
        observation_space=dict.fromkeys(agents, OBS_SPACE),
        action_space=dict.fromkeys(agents, ACTION_SPACE),
        agent_to_module_mapping_fn=lambda agent, episode: f"module_{agent[-1]}",
    )


def turn_based(agents, steps, rewards):
    """What the RLlib adapter returns at each step: (obs, action, rewards, dones, infos,
    extra), after the reset observation of ``steps[0]``."""
    pending = dict.fromkeys(agents, 0.0)

    def obs(agent, t):
        return np.full(OBS, 10 * t + int(agent[-1]), np.float32)

    out = []
    for t, agent in enumerate(steps):
        for a, r in zip(agents, rewards[t], strict=True):
            pending[a] += r
        last = t == len(steps) - 1
        seeing = agents if last else [steps[t + 1]]
        step_obs = {a: obs(a, t + 1) for a in seeing}
        step_rewards = {a: pending[a] for a in seeing}
        for a in seeing:
            pending[a] = 0.0
        dones = {**dict.fromkeys(seeing, last), "__all__": last}
        infos = {a: ({"returns": float(t)} if last else {}) for a in seeing}
        extra = {
            "action_dist_inputs": np.arange(ACTIONS, dtype=np.float32) + t,
            "action_logp": np.float32(-t),
        }
        out.append((step_obs, {agent: np.int32(t % ACTIONS)}, step_rewards, dones, infos, extra))
    return {steps[0]: obs(steps[0], 0)}, out


def stepwise(agents, steps, rewards):
    reset_obs, out = turn_based(agents, steps, rewards)
    episode = new_episode(agents)
    episode.add_env_reset(observations=reset_obs, infos={a: {} for a in reset_obs})
    for step_obs, action, step_rewards, dones, infos, extra in out:
        episode.add_env_step(
            observations=step_obs,
            actions=action,
            rewards=step_rewards,
            infos=infos,
            terminateds=dones,
            truncateds={a: False for a in dones},
            extra_model_outputs={a: extra for a in action},
        )
    episode.to_numpy()
    return episode


def in_one_go(agents, steps, rewards, templates=None):
    episode = new_episode(agents)
    finish_episode(episode, record((agents, steps, rewards)), templates=templates)
    return episode


def assert_same(a, b, path="state"):
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for key in a:
            assert_same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype, path
        np.testing.assert_array_equal(a, b, err_msg=path)
    elif isinstance(a, InfiniteLookbackBuffer):
        assert_same(a.get_state(), b.get_state(), path)
    else:
        assert a == b, path


VOLATILE = {"id_", "_start_time", "_last_step_time", "multi_agent_episode_id"}


def comparable(episode):
    state = {k: v for k, v in episode.get_state().items() if k not in VOLATILE}
    state["agent_episodes"] = {
        agent: {k: v for k, v in sa.items() if k not in VOLATILE}
        for agent, sa in state["agent_episodes"]
    }
    del state["agent_to_module_mapping_fn"]
    return state


@pytest.mark.parametrize("templates", [None, TEMPLATES])
@given(play=plays())
def test_one_go_equals_step_by_step(templates, play):
    reference, ours = stepwise(*play), in_one_go(*play, templates=templates)
    ours.validate()
    assert_same(comparable(reference), comparable(ours))
    assert ours.get_return() == reference.get_return()
    assert len(ours) == len(reference) == len(play[1])


def record(play):
    """A play recorded step by step."""
    reset_obs, out = turn_based(*play)
    recording = PlayRecord()
    for agent, o in reset_obs.items():
        recording.observe(agent, o, {}, 0.0)
    for step_obs, action, step_rewards, _, infos, extra in out:
        ((agent, a),) = action.items()
        recording.act(agent, a, extra)
        for seen, o in step_obs.items():
            recording.observe(seen, o, infos[seen], step_rewards[seen])
    return recording.finished()


def logged_in_lockstep(plays_):
    """The plays logged as a vectorised runner logs them: round r holds every unfinished
    play's r-th move, as one block, then the observations after it, as another."""
    agents = ["player_0", "player_1", "player_2"]
    index = {a: k for k, a in enumerate(agents)}
    log = PlayLog(agents)
    runs = [turn_based(*p) for p in plays_]

    def observe(block):  # [(play, agent, env_t, obs, reward, info)]
        if block:
            ids, seats, times, rows, rewards, infos = zip(*block, strict=True)
            log.observe(np.array(ids), np.array(seats), np.array(times), rewards, rows, infos)

    observe(
        [
            (k, index[a], 0, o, 0.0, {})
            for k, (reset, _) in enumerate(runs)
            for a, o in reset.items()
        ]
    )
    for r in range(max(len(out) for _, out in runs)):
        moving = [(k, out[r]) for k, (_, out) in enumerate(runs) if r < len(out)]
        ids = np.array([k for k, _ in moving])
        seats = np.array([index[a] for _, step in moving for a in step[1]])
        actions = np.array([a for _, step in moving for a in step[1].values()])
        extra = {key: np.stack([step[5][key] for _, step in moving]) for key in moving[0][1][5]}
        log.act(ids, seats, actions, extra)
        observe(
            [
                (k, index[a], r + 1, o, step[2][a], step[4][a])
                for k, step in moving
                for a, o in step[0].items()
            ]
        )
    log.close(len(plays_))
    return [log.play(k, len(p[1]), 0.0, 0.0) for k, p in enumerate(plays_)]


@given(st.lists(plays(), min_size=1, max_size=6))
def test_lockstep_log_gives_the_recorded_plays(plays_):
    for ours, reference in zip(logged_in_lockstep(plays_), map(record, plays_), strict=True):
        assert list(ours.agents) == list(reference.agents)
        assert ours.env_steps == reference.env_steps
        for agent, part in ours.agents.items():
            theirs = reference.agents[agent]._asdict()
            if not len(theirs["actions"]):  # seen at the end only (no episode): no dtypes
                assert not len(part.actions) and not any(map(len, part.extra.values()))
                del theirs["actions"], theirs["extra"]
            assert_same({k: v for k, v in part._asdict().items() if k in theirs}, theirs, agent)


def test_agent_seen_only_at_the_end_gets_no_episode():
    agents = ["player_0", "player_1", "player_2"]
    ours = in_one_go(agents, ["player_0", "player_1"], [[1.0, 0.0, 5.0], [0.0, -1.0, 2.0]])
    assert set(ours.agent_episodes) == {"player_0", "player_1"}
    assert ours.agent_episodes["player_0"].get_return() == 1.0
    assert ours.agent_episodes["player_1"].get_return() == -1.0


PAIRINGS = st.lists(
    st.lists(st.sampled_from(["main", "slot_0", "slot_1"]), min_size=2, max_size=2),
    min_size=1,
    max_size=30,
)


def paired_episodes(modules):
    """Finished two-player episodes, the k-th with modules ``modules[k]`` and returns
    (k, -k)."""
    episodes = []
    for k, (m0, m1) in enumerate(modules):
        agents = ["player_0", "player_1"]
        episode = new_episode(agents)
        episode._agent_to_module_mapping = {"player_0": m0, "player_1": m1}
        play = PlayRecord()
        play.observe("player_0", np.zeros(OBS, np.float32), {}, 0.0)
        play.act("player_0", np.int32(0), {})
        play.observe("player_1", np.zeros(OBS, np.float32), {}, 0.0)
        play.act("player_1", np.int32(0), {})
        for a, r in zip(agents, (k, -k), strict=True):
            play.observe(a, np.zeros(OBS, np.float32), {}, float(r))
        finish_episode(episode, play.finished())
        episodes.append(episode)
    return episodes


def rllib_get_metrics(logger, episodes, window):
    """RLlib's own ``MultiAgentEnvRunner.get_metrics`` on ``episodes``, run on a bare runner
    holding only what it reads."""
    runner = SimpleNamespace(
        metrics=logger,
        config=SimpleNamespace(metrics_num_episodes_for_smoothing=window, num_env_runners=0),
        _done_episodes_for_metrics=list(episodes),
        _ongoing_episodes_for_metrics=defaultdict(list),
    )
    runner._log_episode_metrics = functools.partial(
        MultiAgentEnvRunner._log_episode_metrics, runner
    )
    return MultiAgentEnvRunner.get_metrics(runner)


@given(
    PAIRINGS,
    st.integers(1, 6),
    st.integers(0, 30),
)
def test_episode_metrics_are_rllibs(modules, window, cut):
    """Two calls (the episodes cut in two): the same reduced metrics as RLlib's."""
    episodes = paired_episodes(modules)
    ours, theirs = MetricsLogger(), MetricsLogger()
    for part in (episodes[:cut], episodes[cut:]):
        log_episode_metrics(ours, part, window)
        np.testing.assert_equal(
            peeked(ours.reduce()), peeked(rllib_get_metrics(theirs, part, window))
        )


def peeked(reduced):
    """The values of the Stats objects a logger's ``reduce`` returns (nested dicts)."""
    if isinstance(reduced, dict):
        return {key: peeked(value) for key, value in reduced.items()}
    return reduced.peek()


def test_gc_paused_restores_the_collector_state():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


@given(
    st.sampled_from(
        [torch.float64, torch.float32, torch.int64, torch.int32, torch.uint8, torch.bool]
    ),
    st.lists(st.integers(1, 4), min_size=1, max_size=3),
    st.integers(0, 2**16),
)
def test_as_numpy_is_rllibs_convert_to_numpy(dtype, shape, seed):
    generator = torch.Generator().manual_seed(seed)
    tensor = (torch.randn(shape, generator=generator, dtype=torch.float64) * 50).to(dtype)
    ours, theirs = as_numpy(tensor), convert_to_numpy(tensor)
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)
