"""Policies: masking, seeding, distributions, and checkpoint round-trips (no Ray needed)."""

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from metagame.agents.policy import (
    MixedStrategyPolicy,
    Policy,
    RandomPolicy,
    TabularPolicy,
    legal_distribution,
    load_policy,
    save_policy,
)

masks = st.lists(st.booleans(), min_size=1, max_size=12).filter(any)


@given(masks, st.integers(0, 2**16))
def test_random_policy_only_plays_legal_actions(mask, seed):
    policy = RandomPolicy(seed=seed)
    mask = np.asarray(mask, dtype=np.int8)
    actions = policy.act_batch([None] * 50, [mask] * 50)
    assert mask[actions].all()


@given(st.lists(st.floats(0, 1), min_size=2, max_size=8), masks)
def test_legal_distribution_is_a_distribution_on_legal_actions(p, mask):
    p = np.asarray(p)
    mask = np.resize(np.asarray(mask), len(p))
    if not mask.any():
        mask[0] = True
    q = legal_distribution(p, mask)[0]
    assert np.isclose(q.sum(), 1.0)
    assert np.all(q[~mask] == 0)
    if p[mask].sum() > 0:  # proportional to p on the legal actions
        np.testing.assert_allclose(q[mask], p[mask] / p[mask].sum())


def test_no_legal_action_raises():
    with pytest.raises(ValueError, match="no action"):
        RandomPolicy(3).act(None, np.zeros(3, dtype=np.int8))


def test_mask_taken_from_observation_dict():
    policy = RandomPolicy(seed=0)
    obs = {"observation": np.zeros(2), "action_mask": np.array([0, 0, 1, 0], dtype=np.int8)}
    assert all(policy.act(obs) == 2 for _ in range(20))


def test_seeding_reproduces_and_reset_restarts():
    a, b = RandomPolicy(5, seed=3), RandomPolicy(5, seed=3)
    first = a.act_batch([None] * 100)
    np.testing.assert_array_equal(first, b.act_batch([None] * 100))
    a.reset(3)
    np.testing.assert_array_equal(first, a.act_batch([None] * 100))


def test_mixed_strategy_frequencies_match_strategy():
    strategy = np.array([0.5, 0.3, 0.2, 0.0])
    policy = MixedStrategyPolicy(strategy, seed=0)
    counts = np.bincount(policy.act_batch([None] * 20000), minlength=4) / 20000
    # 5 standard errors at n = 20000 is below 0.02
    np.testing.assert_allclose(counts, strategy, atol=0.02)
    assert counts[3] == 0
    masked = policy.act_batch([None] * 2000, [np.array([0, 1, 1, 1])] * 2000)
    assert set(np.unique(masked)) <= {1, 2}
    np.testing.assert_allclose(policy.probabilities(None, np.array([0, 1, 1, 1])), [0, 0.6, 0.4, 0])


@pytest.mark.parametrize("bad", [[0.5, 0.6], [-0.1, 1.1], [np.nan, 1.0], []])
def test_mixed_strategy_rejects_non_distributions(bad):
    with pytest.raises(ValueError, match="strategy"):
        MixedStrategyPolicy(bad)


def test_tabular_policy_looks_up_states():
    strategy = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    policy = TabularPolicy(strategy, greedy=True)
    assert policy.act(0) == 0 and policy.act(1) == 1
    assert policy.act(np.array([0, 1, 0])) == 1  # one-hot state
    keyed = TabularPolicy(strategy, state_index=lambda obs: obs["s"], greedy=True)
    assert keyed.act({"s": 1}) == 1
    with pytest.raises(ValueError, match="state id 7"):
        policy.act(7)


def test_random_box_policy_stays_in_bounds():
    space = gym.spaces.Box(np.array([-2.0, 0.0]), np.array([2.0, 0.5]), dtype=np.float32)
    actions = RandomPolicy(space, seed=0).act_batch([None] * 500)
    assert actions.shape == (500, 2) and actions.dtype == np.float32
    assert np.all(actions >= space.low) and np.all(actions <= space.high)


def test_protocol_is_satisfied():
    for policy in [RandomPolicy(2), MixedStrategyPolicy([1.0]), TabularPolicy(np.eye(2))]:
        assert isinstance(policy, Policy)


@pytest.mark.parametrize(
    "policy",
    [
        RandomPolicy(4, seed=7, id="r"),
        RandomPolicy(gym.spaces.Box(-1, 1, (3,), np.float32), seed=2),
        MixedStrategyPolicy([0.25, 0.75], seed=1, id="nash"),
        TabularPolicy(np.array([[0.2, 0.8], [1.0, 0.0]]), seed=4, id="minimax_q"),
    ],
)
def test_checkpoint_round_trip(policy, tmp_path):
    loaded = load_policy(save_policy(policy, tmp_path / "ckpt"))
    assert type(loaded) is type(policy) and loaded.id == policy.id
    obs = [0, 1, 1, 0] * 10
    policy.reset(11)
    loaded.reset(11)
    np.testing.assert_array_equal(loaded.act_batch(obs), policy.act_batch(obs))


def test_missing_and_corrupt_checkpoints_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="policy.json"):
        load_policy(tmp_path / "nowhere")
    path = save_policy(MixedStrategyPolicy([1.0]), tmp_path / "p")
    (path / "policy.json").write_text("{not json")
    with pytest.raises(ValueError, match="policy.json.*corrupt"):
        load_policy(path)
    (path / "policy.json").write_text(json.dumps({"kind": "mixed", "id": "x"}))
    with pytest.raises(ValueError, match="corrupt"):
        load_policy(path)


def test_tabular_with_custom_state_index_cannot_be_saved(tmp_path):
    with pytest.raises(ValueError, match="state_index"):
        save_policy(TabularPolicy(np.eye(2), state_index=int), tmp_path / "t")


# --- checkpoints that name classes, and malformed fields ---------------------------------------

FORBIDDEN_CLASSES = [
    "metagame.league.runner:os.system",
    "ray.rllib.examples.rl_modules.custom_cnn_rl_module:TinyAtariCNN",  # a script: parses argv
    "metagame.agents.rllib.modules:NoSuchModule",
    "NoSuchModule",
    "os:system",
]

_IMPORT_PROBE = """
import json, sys
from metagame.agents.policy import load_policy
before = set(sys.modules)
outcomes = []
for path in sys.argv[1:]:
    try:
        load_policy(path)
        outcomes.append("loaded")
    except ValueError as err:
        outcomes.append(str(err))
print(json.dumps({"outcomes": outcomes, "imported": sorted(set(sys.modules) - before)}))
"""


def _write_meta(path, meta):
    path.mkdir(parents=True, exist_ok=True)
    (path / "policy.json").write_text(json.dumps(meta))
    return path


def test_checkpoints_naming_classes_outside_the_registry_import_nothing(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    import metagame

    paths = [
        _write_meta(tmp_path / f"c{i}", {"version": 1, "kind": "rl_module", "id": "x",
                                         "seed": 0, "greedy": True, "module_class": value})
        for i, value in enumerate(FORBIDDEN_CLASSES)
    ]  # fmt: skip
    root = Path(metagame.__file__).parents[1]
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE, *map(str, paths)],
        capture_output=True, text=True, cwd=root, check=True, timeout=120,
    )  # fmt: skip
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["imported"] == []
    for path, value, message in zip(paths, FORBIDDEN_CLASSES, report["outcomes"]):
        assert str(path / "policy.json") in message
        assert "module_class" in message and repr(value) in message


@pytest.mark.parametrize("version", ["2", 0, -1, 99, True, 1.5, None])
def test_bad_versions_name_the_file_and_key(tmp_path, version):
    path = save_policy(MixedStrategyPolicy([1.0]), tmp_path / "p")
    meta = json.loads((path / "policy.json").read_text())
    meta["version"] = version
    _write_meta(path, meta)
    with pytest.raises(ValueError, match=r"p/policy.json.*'version'"):
        load_policy(path)


@pytest.mark.parametrize(
    "key, value",
    [
        ("action_space", -3),
        ("action_space", 10**30),
        ("action_space", {"type": "Discrete", "n": -3}),
        ("action_space", {"type": "Discrete", "n": 2.5}),
        ("action_space", {"type": "Box", "low": [0], "high": [1], "shape": [2], "dtype": "f4"}),
        ("action_space", {"type": "Box", "low": [0], "high": [1], "shape": [1], "dtype": "O"}),
        ("action_space", {"type": "Teleport"}),
        ("id", 7),
        ("seed", "zero"),
        ("seed", True),
        ("seed", -5),
    ],
)
def test_malformed_random_policy_fields_name_the_file_and_key(tmp_path, key, value):
    path = save_policy(RandomPolicy(4), tmp_path / "r")
    meta = json.loads((path / "policy.json").read_text())
    meta[key] = value
    _write_meta(path, meta)
    with pytest.raises(ValueError, match=rf"r/policy.json.*'?{key}"):
        load_policy(path)


@pytest.mark.parametrize("strategy", [[[0.5, "x"]], [[0.5, 0.5], [1.0]], [[-1.0, 2.0]], "ab"])
def test_malformed_strategies_name_the_file_and_key(tmp_path, strategy):
    path = save_policy(TabularPolicy(np.eye(2)), tmp_path / "t")
    meta = json.loads((path / "policy.json").read_text())
    meta["strategy"] = strategy
    _write_meta(path, meta)
    with pytest.raises(ValueError, match=r"t/policy.json.*'strategy'"):
        load_policy(path)


@pytest.fixture(scope="module")
def module_checkpoint(tmp_path_factory):
    """A masked PPO module for tic-tac-toe, saved (RLlib, no Ray cluster)."""
    from metagame.agents.rllib import module_spec

    module = module_spec("openspiel:tic_tac_toe", fcnet_hiddens=[8]).build()
    return save_policy(module, tmp_path_factory.mktemp("module") / "m")


def _edited(src, dst, **changes):
    import shutil

    shutil.copytree(src, dst)
    meta = json.loads((dst / "policy.json").read_text())
    meta.update(changes)
    return _write_meta(dst, meta)


def test_module_classes_resolve_to_their_definition_sites():
    from metagame.agents.module_classes import MODULE_CLASSES, lookup, stable_name

    for name, entry in MODULE_CLASSES.items():
        cls = entry.load()
        assert (cls.__module__, cls.__qualname__) == (entry.module, name)
        assert stable_name(cls) == name
        assert lookup(name)[0] == lookup(f"{entry.module}:{name}")[0] == name


def test_version_1_checkpoints_with_allowed_legacy_names_still_load(module_checkpoint, tmp_path):
    legacy = "metagame.agents.rllib.modules:MaskedPPOTorchRLModule"
    old = _edited(module_checkpoint, tmp_path / "old", version=1, module_class=legacy)
    assert json.loads((module_checkpoint / "policy.json").read_text())["version"] == 2
    obs = [{"observation": np.zeros((3, 3, 3), np.float32), "action_mask": np.ones(9, np.int8)}]
    new_policy, old_policy = load_policy(module_checkpoint), load_policy(old)
    np.testing.assert_array_equal(new_policy.act_batch(obs * 4), old_policy.act_batch(obs * 4))
    assert type(old_policy.module).__name__ == "MaskedPPOTorchRLModule"


def test_a_negative_discrete_action_space_names_the_key(module_checkpoint, tmp_path):
    bad = _edited(module_checkpoint, tmp_path / "neg", action_space={"type": "Discrete", "n": -9})
    with pytest.raises(ValueError, match=r"neg/policy.json.*'action_space'.*positive"):
        load_policy(bad)


def test_an_action_space_the_mask_does_not_fit_names_both_keys(module_checkpoint, tmp_path):
    bad = _edited(module_checkpoint, tmp_path / "n", action_space={"type": "Discrete", "n": 5})
    with pytest.raises(ValueError, match=r"n/policy.json.*'action_space'.*'observation_space'"):
        load_policy(bad)


def test_weights_that_do_not_fit_the_action_space_name_both_files(tmp_path):
    from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import (
        DefaultPPOTorchRLModule,
    )

    from metagame.agents.rllib import module_spec

    spec = module_spec("gym:CartPole-v1", fcnet_hiddens=[8])
    spec.module_class = DefaultPPOTorchRLModule  # what the runner does for unmasked games
    path = save_policy(spec.build(), tmp_path / "c")
    assert load_policy(path).act(np.zeros(4, np.float32)) in (0, 1)
    _edited(path, tmp_path / "fit", action_space={"type": "Discrete", "n": 3})
    with pytest.raises(ValueError, match=r"fit/weights.pt do not fit.*fit/policy.json.*size"):
        load_policy(tmp_path / "fit")
    _edited(path, tmp_path / "wide", model_config={"fcnet_hiddens": [16]})
    with pytest.raises(ValueError, match=r"wide/weights.pt do not fit.*'model_config'"):
        load_policy(tmp_path / "wide")


def test_mismatched_observation_spaces_and_configs_name_the_keys(module_checkpoint, tmp_path):
    box = {"type": "Box", "low": [0.0], "high": [1.0], "shape": [1], "dtype": "float32"}
    bad = _edited(module_checkpoint, tmp_path / "obs", observation_space=box)
    with pytest.raises(ValueError, match=r"obs/policy.json.*'module_observation_space'"):
        load_policy(bad)
    bad = _edited(module_checkpoint, tmp_path / "cfg", model_config={"fcnet_hiddens": [-4]})
    with pytest.raises(ValueError, match=r"cfg/policy.json.*'model_config'"):
        load_policy(bad)
    bad = _edited(module_checkpoint, tmp_path / "inf", inference_only="yes")
    with pytest.raises(ValueError, match=r"inf/policy.json.*'inference_only'"):
        load_policy(bad)


def test_a_config_path_to_weights_is_not_read_on_load(tmp_path):
    """DuelRLModule takes initial weights from ``model_config["weights"]``; a checkpoint
    carries the whole state in weights.pt, so loading never opens a path the file names."""
    import torch

    from metagame.agents.lm.rlmodule import DuelRLModule, save_weights
    from metagame.agents.lm.train import transformer_config
    from metagame.envs.preference.duel import LLMDuelEnv

    env = LLMDuelEnv(num_players=2)
    config = transformer_config(env, d_model=8).to_dict()
    space, actions = env.observation_space("player_0"), env.action_space("player_0")
    torch.manual_seed(0)
    sft = DuelRLModule(observation_space=space, action_space=actions, model_config=config)
    config["weights"] = str(save_weights(sft.model, tmp_path / "sft.pt"))
    module = DuelRLModule(observation_space=space, action_space=actions, model_config=config)
    path = save_policy(module, tmp_path / "duel", observation_space=space)
    (tmp_path / "sft.pt").unlink()
    loaded = load_policy(path).module
    for name, tensor in module.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor)


def test_version_1_checkpoints_naming_the_old_duel_package_still_load(tmp_path):
    """``metagame.agents.duel`` became ``metagame.agents.lm``: a version-1 checkpoint naming
    the old definition site loads through the module-class table (nothing is imported by it)."""
    import torch

    from metagame.agents.lm.rlmodule import DuelRLModule
    from metagame.agents.lm.train import transformer_config
    from metagame.envs.preference.duel import LLMDuelEnv

    env = LLMDuelEnv(num_players=2)
    config = transformer_config(env, d_model=8).to_dict()
    space, actions = env.observation_space("player_0"), env.action_space("player_0")
    torch.manual_seed(0)
    module = DuelRLModule(observation_space=space, action_space=actions, model_config=config)
    path = save_policy(module, tmp_path / "duel", observation_space=space)
    legacy = "metagame.agents.duel.rlmodule:DuelRLModule"
    old = _edited(path, tmp_path / "old", version=1, module_class=legacy)
    loaded = load_policy(old).module
    assert type(loaded) is DuelRLModule
    for name, tensor in module.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor)


@pytest.mark.parametrize(
    ("shipped", "what"),
    [
        ("follow/follower", "follower checkpoint weights"),
        ("traffic_drivers/learned_driver", "traffic driver weights"),
    ],
)
def test_damaged_learned_agent_weights_name_the_file(shipped, what, tmp_path):
    """The learned MAPF follower's and traffic driver's checkpoints share the loader of
    ``load_policy``: a corrupt file or weights of another shape are a ValueError naming it."""
    import shutil

    import torch

    import metagame

    source = Path(metagame.__file__).parent / "data" / shipped
    copy = tmp_path / "agent"
    shutil.copytree(source, copy)
    (copy / "weights.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match=f"{what}.*agent/weights.pt are corrupt"):
        load_policy(copy)
    torch.save({"policy.stranger": torch.zeros(3), "stranger": torch.zeros(3)}, copy / "weights.pt")
    with pytest.raises(ValueError, match=f"{what}.*agent/weights.pt do not fit"):
        load_policy(copy)
