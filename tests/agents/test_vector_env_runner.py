"""The vectorised EnvRunner: its episodes replay on OpenSpiel, feed PPO, and train.

Independent checks: every sampled episode is replayed on a fresh pyspiel state from its
recorded history (observations through the PettingZoo env's own observer, moves, rewards,
returns); the league's agent-to-module mapping and episode-end callback see per episode what
they see under RLlib's own ``MultiAgentEnvRunner``; recorded action logits are the module's
forward pass on the recorded observations (after a weight sync through ``set_state``); PPO
trains on the episodes; a short PPO self-play run lowers Kuhn's exact exploitability.
"""

import gc

import numpy as np
import pytest
import torch
from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner

from metagame.agents.policy import RLModulePolicy
from metagame.agents.rllib import rllib_config
from metagame.agents.rllib.encoding import ObservationCodec
from metagame.agents.rllib.vector_env_runner import HISTORY_KEY, VectorEnvRunner
from metagame.envs import make
from metagame.league.exploitability import mixture_exploitability
from metagame.league.sampling import (
    ASSIGNMENT_KEY,
    LeagueCallbacks,
    tallies,
)

pytestmark = pytest.mark.usefixtures("ray_local")

LEDUC = "openspiel:leduc_poker"
MODEL = {"fcnet_hiddens": [16, 16]}
HOOKS: list[tuple[str, str]] = []


class RecordingCallbacks(LeagueCallbacks):
    """The league's callback, also recording which hook saw which episode."""

    def on_episode_created(self, *, episode, **kwargs):
        HOOKS.append(("created", episode.id_))

    def on_episode_start(self, *, episode, **kwargs):
        HOOKS.append(("start", episode.id_))

    def on_episode_end(self, *, episode, **kwargs):
        HOOKS.append(("end", episode.id_))
        assert episode.is_done
        super().on_episode_end(episode=episode, **kwargs)


def expected_observations(env, state):
    """What the PettingZoo env shows every agent at ``state`` (through the RLlib codec)."""
    env.game_state = state
    codec = ObservationCodec(env.observation_space(env.possible_agents[0]))
    return {a: codec.encode(env.observe(a)) for a in env.possible_agents}


@pytest.mark.parametrize("random_actions", [False, True])
def test_episodes_replay_on_a_fresh_openspiel_state(random_actions, league_ppo):
    runner = VectorEnvRunner(config=league_ppo.config(callbacks=RecordingCallbacks), worker_index=0)
    league_ppo.install(runner)
    episodes = runner.sample(num_episodes=60, random_actions=random_actions)
    assert len(episodes) == 60
    env = make(LEDUC)
    env.reset(seed=0)
    game = env.game
    for episode in episodes:
        episode.validate()
        state = game.new_initial_state()
        seen = {a: [] for a in env.possible_agents}
        moves = {a: [] for a in env.possible_agents}
        for action in episode.custom_data[HISTORY_KEY]:
            if not state.is_chance_node():
                agent = env.possible_agents[state.current_player()]
                seen[agent].append(expected_observations(env, state.clone())[agent])
                moves[agent].append(action)
            state.apply_action(action)
        assert state.is_terminal()
        final = expected_observations(env, state)
        assert episode.is_terminated and len(episode) == sum(map(len, moves.values()))
        for p, agent in enumerate(env.possible_agents):
            single = episode.agent_episodes[agent]
            np.testing.assert_array_equal(single.get_actions(), moves[agent])
            np.testing.assert_array_equal(single.get_observations(), [*seen[agent], final[agent]])
            assert single.get_return() == pytest.approx(state.returns()[p])
            assert single.get_infos(-1) == {"returns": state.returns()[p]}
            assert single.is_terminated


def pairing_and_outcomes(episodes):
    """Per episode: the assignment drawn by the league's mapping, the modules it led to, and
    the learner's outcome from the episode's returns (every seat is its own role here)."""
    out = []
    for e in episodes:
        assignment = e.custom_data[ASSIGNMENT_KEY]
        learner_agent = assignment.party
        modules = {a: sa.module_id for a, sa in e.agent_episodes.items()}
        for agent, module in modules.items():
            assert module == assignment.modules[agent]
            assert (module == assignment.learner) or agent != learner_agent
        returns = {a: sa.get_return() for a, sa in e.agent_episodes.items()}
        other = max(r for a, r in returns.items() if a != learner_agent)
        mine = returns[learner_agent]
        (opponent,) = assignment.opponents().values()
        out.append((opponent, 0 if mine > other else 2 if mine < other else 1))
    return out


@pytest.mark.parametrize("runner_cls", [MultiAgentEnvRunner, VectorEnvRunner])
def test_league_mapping_and_callbacks_see_every_episode(runner_cls, league_ppo):
    config = league_ppo.config(runner=runner_cls, games=8, callbacks=RecordingCallbacks)
    runner = runner_cls(config=config, worker_index=0)
    league_ppo.install(runner)
    HOOKS.clear()
    episodes = []
    while len(episodes) < 40:
        episodes += runner.sample()
    for e in episodes:
        assert [hook for hook, eid in HOOKS if eid == e.id_] == ["created", "start", "end"]
    expected: dict[tuple[str, str], list[int]] = {}
    for opponent, outcome in pairing_and_outcomes(episodes):
        if opponent is not None:
            expected.setdefault(("main", opponent), [0, 0, 0])[outcome] += 1
    games, steps = tallies(runner)
    assert games == expected and steps == sum(len(e) for e in episodes)
    assert {o for o, _ in pairing_and_outcomes(episodes)} == {"main", "frozen"}
    runner.stop()


def test_recorded_outputs_are_the_synced_modules_forward_pass(league_ppo):
    runner = VectorEnvRunner(config=league_ppo.config(callbacks=RecordingCallbacks), worker_index=0)
    league_ppo.install(runner)
    state = runner.get_state(components="rl_module")
    noise = np.random.default_rng(0)
    for weights in state["rl_module"].values():
        for key, value in weights.items():
            weights[key] = (value + noise.normal(0, 0.5, value.shape)).astype(value.dtype)
    runner.set_state({**state, "weights_seq_no": 7})
    episodes = runner.sample(num_timesteps=300)
    assert sum(len(e) for e in episodes) >= 300
    for e in episodes:
        for single in e.agent_episodes.values():
            module = runner.module[single.module_id]
            obs = torch.from_numpy(single.get_observations()[:-1])
            with torch.no_grad():
                logits = module.forward_inference({"obs": obs})["action_dist_inputs"]
            extra = single.get_extra_model_outputs
            np.testing.assert_allclose(
                extra("action_dist_inputs"), logits.numpy(), rtol=1e-5, atol=1e-6
            )
            logp = torch.log_softmax(logits, -1)[range(len(obs)), single.get_actions()]
            np.testing.assert_allclose(extra("action_logp"), logp.numpy(), rtol=1e-4, atol=1e-6)
            assert set(extra("weights_seq_no")) == {7}
            legal = single.get_observations()[:-1, -3:]  # the mask, Leduc's 3 actions
            assert legal[range(len(obs)), single.get_actions()].all()
    for e in runner.sample(num_episodes=40, explore=False):
        for single in e.agent_episodes.values():
            logits = single.get_extra_model_outputs("action_dist_inputs")
            np.testing.assert_array_equal(single.get_actions(), logits.argmax(axis=1))


def test_heap_is_frozen_while_the_runner_samples(league_ppo):
    runner = VectorEnvRunner(config=league_ppo.config(), worker_index=0)
    league_ppo.install(runner)
    gc.unfreeze()  # runners of earlier tests, never stopped, froze it
    runner.sample(num_episodes=4)
    frozen = gc.get_freeze_count()
    assert frozen > 10_000  # Ray, torch, the runner's modules
    runner.sample(num_episodes=4)
    assert gc.get_freeze_count() == frozen  # frozen once
    runner.stop()
    assert gc.get_freeze_count() == 0


def test_ppo_trains_on_the_episodes_and_syncs_weights(league_ppo):
    config = league_ppo.config(train_batch_size_per_learner=400, minibatch_size=100)
    algo = config.build_algo()
    league_ppo.install(algo)
    before = algo.learner_group.get_weights(["main", "slot_0"])
    result = algo.train()
    after = algo.learner_group.get_weights(["main", "slot_0"])
    assert np.isfinite(result["learners"]["main"]["policy_loss"])
    assert result["env_runners"]["num_env_steps_sampled"] >= 400
    assert np.isfinite(result["env_runners"]["episode_return_mean"])
    changed = [k for k in before["main"] if not np.allclose(before["main"][k], after["main"][k])]
    assert changed
    for k, v in before["slot_0"].items():
        np.testing.assert_array_equal(v, after["slot_0"][k])
    # what PPO syncs to the runners after its update: the inference-only weights
    synced = algo.learner_group.get_state(
        components=["learner/rl_module/main"], inference_only=True
    )["learner"]["rl_module"]["main"]
    runner_weights = algo.env_runner.module["main"].get_state()
    assert set(synced) <= set(runner_weights) and set(synced) & set(changed)
    for k, v in synced.items():
        np.testing.assert_array_equal(np.asarray(runner_weights[k]), v)
    algo.stop()


@pytest.mark.parametrize(
    "game, message",
    [("soccer", "turn-based OpenSpiel"), ("openspiel:matrix_rps", "turn-based OpenSpiel")],
)
def test_other_games_are_refused(game, message):
    config = rllib_config(game, "PPO", rollout_fragment_length="auto").env_runners(
        env_runner_cls=VectorEnvRunner, num_env_runners=0
    )
    with pytest.raises(ValueError, match=message):
        VectorEnvRunner(config=config)


class StepCallback(LeagueCallbacks):
    def on_episode_step(self, **kwargs):
        pass


def test_step_callbacks_are_refused(league_ppo):
    with pytest.raises(ValueError, match="on_episode_step"):
        VectorEnvRunner(config=league_ppo.config().callbacks(StepCallback))


@pytest.mark.slow
def test_ppo_selfplay_lowers_kuhn_exploitability():
    game = "openspiel:kuhn_poker"
    config = rllib_config(
        game,
        "PPO",
        lr=0.003,
        train_batch_size_per_learner=4000,
        minibatch_size=500,
        num_epochs=4,
        entropy_coeff=0.0,
        rollout_fragment_length="auto",
        seed=0,
        **MODEL,
    ).env_runners(env_runner_cls=VectorEnvRunner, num_env_runners=0, num_envs_per_env_runner=128)
    algo = config.build_algo()
    env = make(game)
    policy = RLModulePolicy(
        algo.env_runner.module["shared"], env.observation_space(env.possible_agents[0])
    )

    def exploitability():
        return mixture_exploitability(game, {}, [policy], [1.0])

    start = exploitability()
    for _ in range(8):
        algo.train()
    end = exploitability()
    algo.stop()
    assert start > 0.3 and end < 0.6 * start
