"""Preference self-play on a real (tiny) language model: metagame against TRL.

Same tiny random GPT-2 (built offline, ``metagame.envs.preference.tiny_lm``), same prompts (the
bundled set), same judge and same wall budget of training for each trainer:

- metagame SPO, Nash-MD and INPO (``metagame.agents.lm.sequence_learner``): whole answers
  sampled with ``generate``, 4 per prompt and 32 prompts per step, one update on their sequence
  log-probabilities per step. SPO: win rates as rewards; Nash-MD: opponents drawn from the
  geometric mixture with the reference (mixture 0.25), KL coefficient 0.02; INPO: eta 1, beta
  0.02 (with TRL's beta 0.1 and mixture 0.5 they won 0.938 and 0.965 against the initial model,
  below Online DPO's interval);
- TRL Online DPO (Guo et al., 2024; ``trl.OnlineDPOTrainer``, beta 0.1) and TRL Nash-MD
  (``trl.NashMDTrainer``, beta 0.1, mixture coefficient 0.5), the anchors; TRL's Online DPO is
  the throughput anchor (``x TRL``).

The judge prefers the answer with more letters "a" (a deterministic rule both libraries can
call: a metagame ``CallableJudge`` and a ``trl.BasePairwiseJudge``). Reported per trainer:
generated tokens (answers and, for Nash-MD, the mixture's opponents) per second of training
wall time, and the trained model's win rate against the initial model on 128 prompts (answers
sampled at temperature 1, 32 new tokens, judged by the same judge; ties count 1/2) with Wilson's
95% interval. Before the trainers, the throughput of cached generation against token-by-token
stepping of the duel (what an RLlib env runner does) and of the judges is printed.

TRL is not a metagame dependency: it is installed, pinned, with ``pip install --no-deps
--target benchmarks/.venvs/trl`` on first use and run in a subprocess with that folder on its
``PYTHONPATH``. When that fails (no network, no wheel) the TRL row says why and the metagame
rows still run.

The 1-minute load average is sampled every 10 s while each trainer trains (mean and range
printed), since both libraries are measured on a machine other programs may share.

Run: ``.venv/bin/python benchmarks/llm_duel.py [--budget 600] [--no-trl | --trl online_dpo]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from _venv import VENVS, ensure_target  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parent.parent
TARGET = VENVS / "trl"
PINNED = [
    "trl==0.14.0",
    "accelerate==1.3.0",
    "datasets==3.2.0",
    "dill==0.3.8",
    "multiprocess==0.70.16",
    "xxhash==3.5.0",
    "psutil==6.1.1",
    "aiohttp==3.11.11",
    "aiosignal==1.3.2",
    "frozenlist==1.5.0",
    "multidict==6.1.0",
    "yarl==1.18.3",
    "propcache==0.2.1",
    "aiohappyeyeballs==2.4.4",
]
MAX_TOKENS = 32
EPISODES = 128


def more_a(prompt: str, a: str, b: str) -> float:
    """Pr(a preferred to b): the answer with more letters 'a' wins; equal counts tie."""
    return 0.5 + 0.5 * ((a.count("a") > b.count("a")) - (a.count("a") < b.count("a")))


@contextmanager
def load_average(samples: list[float], every: float = 10.0):
    """Appends the 1-minute load average to ``samples`` every ``every`` seconds while inside."""
    stop = threading.Event()

    def sample():
        while True:
            samples.append(os.getloadavg()[0])
            if stop.wait(every):
                return

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


def trl_env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(TARGET), str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "TOKENIZERS_PARALLELISM": "false"}


def trl_worker(model: str, output: str, trainer_name: str, budget: float, seed: int) -> None:
    """Runs inside the TRL subprocess: trains for ``budget`` seconds, saves to ``output``."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import (
        BasePairwiseJudge,
        NashMDConfig,
        NashMDTrainer,
        OnlineDPOConfig,
        OnlineDPOTrainer,
    )

    from metagame.envs.preference.prompts import load_prompts

    torch.set_num_threads(1)

    class MoreA(BasePairwiseJudge):
        def judge(self, prompts, completions, shuffle_order=True, return_scores=False):
            scores = [more_a(p, a, b) for p, (a, b) in zip(prompts, completions)]
            return scores if return_scores else [0 if x >= 0.5 else 1 for x in scores]

    class Budget(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            control.should_training_stop = time.perf_counter() - start >= budget

    generated = [0]

    class CountingOnlineDPO(OnlineDPOTrainer):
        def _generate(self, model, prompts):
            out = super()._generate(model, prompts)
            generated[0] += int(out[3].sum())  # completion masks
            return out

    class CountingNashMD(NashMDTrainer):
        def _process_completions(self, model_output, mixture_output, prompts):
            data = super()._process_completions(model_output, mixture_output, prompts)
            context = prompts["input_ids"].shape[1]
            generated[0] += sum(int(d["attention_mask"][:, context:].sum()) for d in data)
            return data

    trainers = {
        "online_dpo": (CountingOnlineDPO, OnlineDPOConfig, {}),
        "nash_md": (CountingNashMD, NashMDConfig, {"mixture_coef": 0.5}),
    }
    trainer_class, config_class, extra = trainers[trainer_name]

    tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=True)
    policy = AutoModelForCausalLM.from_pretrained(model, local_files_only=True)
    prompts = [p.text for p in load_prompts()]
    config = config_class(
        output_dir=output,
        max_new_tokens=MAX_TOKENS,
        temperature=1.0,
        beta=0.1,
        learning_rate=3e-3,
        per_device_train_batch_size=8,
        max_steps=100_000,
        logging_steps=10_000,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=seed,
        dataloader_num_workers=0,
        disable_tqdm=True,
        **extra,
    )
    trainer = trainer_class(
        model=policy,
        args=config,
        train_dataset=Dataset.from_dict({"prompt": prompts * 64}),
        processing_class=tokenizer,
        judge=MoreA(),
        callbacks=[Budget()],
    )
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    trainer.model.save_pretrained(output)
    tokenizer.save_pretrained(output)
    result = {"tokens": generated[0], "seconds": seconds, "steps": trainer.state.global_step}
    Path(output, "benchmark.json").write_text(json.dumps(result))


def run_trl(model: Path, output: Path, trainer: str, budget: float, seed: int) -> dict | str:
    if ensure_target("trl", PINNED, "import trl, datasets, accelerate") is None:
        return f"TRL could not be installed into {TARGET} (see above)"
    command = [sys.executable, __file__, "--trl-worker", str(model), str(output), trainer]
    command += ["--budget", str(budget), "--seed", str(seed)]
    done = subprocess.run(command, env=trl_env(), capture_output=True, timeout=budget + 600)
    if done.returncode != 0:
        return "TRL run failed: " + done.stderr.decode()[-400:]
    return json.loads((output / "benchmark.json").read_text())


TRL = {"online_dpo": "TRL Online DPO", "nash_md": "TRL Nash-MD"}
METAGAME = {  # row name: (algorithm, learner settings)
    "metagame SPO": ("spo", {"beta": 0.0}),
    "metagame Nash-MD": ("nash_md", {"beta": 0.02, "mixture": 0.25}),
    "metagame INPO": ("inpo", {"beta": 0.02, "eta": 1.0}),
}


def run_metagame(
    model: Path, output: Path, name: str, budget: float, seed: int, tuning: dict | None = None
) -> dict:
    """Trains metagame's ``name`` row; ``tuning`` overrides its learner settings."""
    from metagame.agents.lm.sequence_learner import train_sequence_duel

    algorithm, settings = METAGAME[name]
    settings = {**settings, **{k: v for k, v in (tuning or {}).items() if k in settings}}
    run = train_sequence_duel(
        {"model": str(model), "max_tokens": MAX_TOKENS, "judge": more_a},
        output,
        algorithm,
        iterations=1_000_000,
        seconds=budget,
        group=4,
        prompts_per_step=32,
        lr=3e-3,
        seed=seed,
        **settings,
    )
    return {"tokens": sum(run.tokens), "seconds": sum(run.seconds), "steps": len(run.seconds)}


def evaluate(model: Path, trained: Path, seed: int):
    """The trained model's win rate against the initial one (an ``Interval``)."""
    from metagame.agents.lm.lm_train import lm_win_rate
    from metagame.envs import make
    from metagame.envs.preference.lm import CausalLMPolicy, load_causal_lm

    env = make("llm_duel", model=str(model), max_tokens=MAX_TOKENS, judge=more_a)
    initial, tokenizer = load_causal_lm(model)
    policy, _ = load_causal_lm(trained)
    return lm_win_rate(
        CausalLMPolicy(policy, tokenizer, seed=seed + 1),
        CausalLMPolicy(initial, tokenizer, seed=seed + 2),
        env,
        episodes=EPISODES,
    )


def throughput(tmp: Path, model: Path, seed: int) -> None:
    """Generation and judge throughput on the tiny models, printed (best of three)."""
    from _timing import best_of_three  # benchmarks/ is on sys.path when run as a script

    from metagame.envs import make
    from metagame.envs.preference.judges import CallableJudge, LMJudge, RewardModelJudge
    from metagame.envs.preference.tiny_lm import save_tiny_gpt2

    env = make("llm_duel", model=str(model), max_tokens=MAX_TOKENS, num_players=4)
    policy = env.policy(seed=seed)
    texts = [p.text for p in env.prompts] * 4

    def cached():
        return sum(len(r) for r in policy.generate(texts, MAX_TOKENS))

    def token_level():  # every step reads all 4 observations, finished players' too
        obs, _ = env.reset(seed=seed)
        while env.agents:
            actions = policy.act_batch([obs[a] for a in env.agents])
            obs, *_ = env.step(dict(zip(env.agents, actions)))
        return sum(len(r) for r in env.responses)

    seconds, tokens = best_of_three(cached)
    print(f"generate (KV cache, batch {len(texts)}): {tokens / seconds:8.0f} tokens/s")
    seconds, tokens = best_of_three(token_level)
    print(f"token-level duel steps (4 players):   {tokens / seconds:8.0f} tokens/s")
    answers = [env.vocab.decode(r) for r in policy.generate(texts[:8], MAX_TOKENS)]
    prompt = env.prompts[0]
    reward_dir = save_tiny_gpt2(tmp / "reward", [p.text for p in env.prompts], head="reward")
    for name, judge in (
        ("callable", CallableJudge(more_a)),
        ("reward model", RewardModelJudge(reward_dir)),
        ("pairwise LM", LMJudge(model)),
    ):
        seconds, _ = best_of_three(
            lambda judge=judge: (judge.cache.clear(), judge.matrix(prompt, answers))
        )
        pairs = len(answers) * (len(answers) - 1) // 2
        print(f"judge {name:<13} {pairs / seconds:8.0f} pairs/s (uncached, 8 answers)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", type=float, default=600.0, help="training seconds per trainer")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-trl", action="store_true", help="skip the TRL anchors")
    parser.add_argument(
        "--trl", nargs="+", choices=list(TRL), default=list(TRL), help="TRL trainers to run"
    )
    parser.add_argument(
        "--only", nargs="+", choices=[n.split()[-1] for n in METAGAME], help="metagame rows to run"
    )
    for key in ("beta", "mixture", "eta"):
        parser.add_argument(f"--{key}", type=float, help=f"{key} of the rows that have one")
    parser.add_argument(
        "--trl-worker", nargs=3, metavar=("MODEL", "OUTPUT", "TRAINER"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.trl_worker:
        trl_worker(*args.trl_worker, args.budget, args.seed)
        return

    import torch

    from metagame.envs.preference.prompts import load_prompts
    from metagame.envs.preference.tiny_lm import save_tiny_gpt2

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        texts = [t for p in load_prompts() for t in (p.text, p.reference)]
        model = save_tiny_gpt2(tmp / "initial", texts, seed=args.seed)
        throughput(tmp, model, args.seed)
        results: dict[str, dict | str] = {}
        tuning = {k: getattr(args, k) for k in ("beta", "mixture", "eta") if getattr(args, k)}
        if tuning:
            print("tuning: " + ", ".join(f"{k} {v:g}" for k, v in tuning.items()))
        for name in METAGAME:
            if args.only and name.split()[-1] not in args.only:
                results[name] = "skipped (--only)"
                continue
            out = tmp / name.replace(" ", "_")
            with load_average([]) as load:
                results[name] = run_metagame(model, out, name, args.budget, args.seed, tuning)
            results[name]["load"] = load
            results[name]["win"] = evaluate(model, out, args.seed)
        for trainer, name in TRL.items():
            if args.no_trl or trainer not in args.trl:
                results[name] = "skipped (--no-trl)" if args.no_trl else "skipped (--trl)"
                continue
            out = tmp / trainer
            with load_average([]) as load:
                results[name] = run_trl(model, out, trainer, args.budget, args.seed)
            if isinstance(results[name], dict):
                results[name]["load"] = load
                results[name]["win"] = evaluate(model, out, args.seed)
    report(results, args.budget)


def report(results: dict[str, dict | str], budget: float) -> None:
    """The table, then each metagame trainer against the targets (TRL Online DPO the anchor)."""
    print(f"tiny GPT-2 (2 layers, width 32), {MAX_TOKENS} new tokens, budget {budget:.0f} s")
    anchor = results["TRL Online DPO"]
    anchor = anchor if isinstance(anchor, dict) else None
    print(
        f"{'trainer':<18}{'updates':>8}{'tokens':>9}{'tok/s':>8}{'x TRL':>7}"
        f"  {'win vs initial [95%]':<22}  load avg (min-max)"
    )
    print(f"(x TRL: generated tokens per second over TRL Online DPO's; {os.cpu_count()} cores)")
    for name, r in results.items():
        if isinstance(r, str):
            print(f"{name:<18}  {r}")
            continue
        rate = r["tokens"] / r["seconds"]
        ratio = f"{rate / (anchor['tokens'] / anchor['seconds']):7.2f}" if anchor else "      -"
        win = r["win"].format(signed=False)
        load = f"{sum(r['load']) / len(r['load']):.1f} ({min(r['load']):.1f}-{max(r['load']):.1f})"
        print(f"{name:<18}{r['steps']:>8}{r['tokens']:>9}{rate:>8.0f}{ratio}  {win:<22}  {load}")
    if anchor is None:
        return
    for name in METAGAME:
        r = results[name]
        if isinstance(r, str):
            continue
        faster = r["tokens"] / r["seconds"] >= anchor["tokens"] / anchor["seconds"]
        matched = r["win"].estimate >= anchor["win"].low
        print(
            f"{name}: tokens/s >= TRL {'yes' if faster else 'NO'}; win rate within or above "
            f"TRL's interval {'yes' if matched else 'NO'}; win rate > 0.6 "
            f"{'yes' if r['win'].estimate > 0.6 else 'NO'}"
        )


if __name__ == "__main__":
    main()
