"""PPO's epochs of minibatch updates over a train batch held as whole tensors.

RLlib's ``Learner.update`` cuts every minibatch out of the train batch as ``SampleBatch``
slices (``MiniBatchCyclicIterator``: slices per module, concatenated, wrapped in a
``MultiAgentBatch``), and around each minibatch's forward and backward pass it puts every
sub-module back into training mode, logs the batch's off-policyness, zeroes and steps the
optimizer of every module (frozen ones included), checks every gradient for non-finite values
twice, and logs eight step counters and two Prometheus metrics, besides the loss's own six
statistics. On the league's networks (two 64-unit layers, 250-row minibatches, ~40 minibatches
per iteration) that bookkeeping costs as much as the gradient step itself: measured by
``benchmarks/league_throughput.py`` on Leduc poker, RLlib's learner takes 3.7 CPU ms per
minibatch, the whole-batch learner 1.9 ms, its gradient steps alone (forward, loss, backward,
optimizer step on minibatches gathered beforehand) 1.8 ms.

:class:`WholeBatchUpdate` (a mixin for RLlib's torch learners) keeps what a minibatch update
computes and does the bookkeeping once per update:

- minibatches are rows gathered by index from the whole batch's tensors; :func:`minibatch_rows`
  gives the rows RLlib's cyclic iterator gives (epochs wrap around the batch, and the batch is
  reshuffled at each wrap by NumPy's global generator, drawn at the same moments), so the same
  seed gives the same minibatches and the same weights;
- per minibatch: the modules' ``_forward_train``, the learner's own ``compute_losses`` (PPO's
  clipped surrogate, value and KL terms, Schulman et al. 2017, and whatever a subclass adds),
  backward, the learner's ``postprocess_gradients`` (gradient clipping; skipped when it would
  return the gradients unchanged), one finiteness check of all gradients at once (their sum),
  and a step of each optimizer that has gradients;
- the rows the loss mask leaves out (the bootstrap timestep PPO's pipeline appends to every
  episode) are dropped from each minibatch before the forward pass: the loss's masked means
  become plain means over the same rows, the same values and gradients with fewer and smaller
  operations (only the value function's explained variance, a logged statistic that RLlib
  takes over the masked rows too, differs); step counters still count them, as RLlib does;
- RLlib's Adam optimizers run torch's fused kernel (one call for all of a module's
  parameters instead of a dozen small operations per parameter): the same update, equal to
  the per-parameter one up to float rounding;
- statistics logged during the loop are held back (:class:`HeldMetrics`): those with window 1
  keep their last value, all RLlib's reduction keeps of them; others are logged in order after
  the loop. Off-policyness is logged for the last minibatch (window 1), step counters once with
  the loop's totals, the ``module_train_batch_size_mean`` EMA once per update.

Non-finite gradients go through RLlib's ``apply_gradients`` (zeroed or skipped, with its
warnings). Data iterators, recurrent modules, compiled or data-parallel (several learners)
updates, torch LR schedulers and gradient scalers take RLlib's own ``update``.

:func:`use_whole_batch_learner` switches a PPO or MMD config to these learners.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.core import ALL_MODULES
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.learner import Learner
from ray.rllib.core.learner.training_data import TrainingData
from ray.rllib.utils.metrics import (
    MODULE_TRAIN_BATCH_SIZE_MEAN,
    NUM_ENV_STEPS_TRAINED,
    NUM_ENV_STEPS_TRAINED_LIFETIME,
    NUM_MODULE_STEPS_TRAINED,
    NUM_MODULE_STEPS_TRAINED_LIFETIME,
    WEIGHTS_SEQ_NO,
)

from metagame.agents.rllib.magnet import MagnetPPOLearner


def minibatch_rows(
    lengths: Mapping[str, int],
    minibatch_size: int,
    num_epochs: int,
    shuffle: bool,
    num_total_minibatches: int = 0,
) -> Iterator[dict[str, np.ndarray]]:
    """Row indices of each minibatch, per module, in the order RLlib's cyclic iterator cuts
    them from batches of ``lengths`` rows.

    Each module's rows are a stream through its batch that wraps around: a minibatch takes
    the next ``minibatch_size`` rows; reaching the batch's end (exactly, or within the
    minibatch) completes an epoch and, with ``shuffle``, permutes the batch with
    ``np.random.permutation`` before the stream goes on. Minibatches come until every module
    has completed ``num_epochs`` epochs, or, if ``num_total_minibatches`` > 0, that many."""
    if not lengths:
        return
    for module, n in lengths.items():
        if n <= 0:
            raise ValueError(f"module {module!r}: the train batch has no rows")
    order = {m: np.arange(n) for m, n in lengths.items()}
    start = dict.fromkeys(lengths, 0)
    epochs = dict.fromkeys(lengths, 0)
    count = 0
    while (
        count < num_total_minibatches
        if num_total_minibatches > 0
        else min(epochs.values()) < num_epochs
    ):
        rows = {}
        for module, n in lengths.items():
            s, need, parts = start[module], minibatch_size, []
            while s + need >= n:
                parts.append(order[module][s:])
                need -= n - s
                s = 0
                epochs[module] += 1
                if shuffle:  # the global generator, as SampleBatch.shuffle draws
                    order[module] = order[module][np.random.permutation(n)]  # noqa: NPY002
            parts.append(order[module][s : s + need])
            rows[module] = np.concatenate(parts)
            start[module] = s + need
        yield rows
        count += 1


def _key(key: Any) -> tuple:
    return key if isinstance(key, tuple) else (key,)


class HeldMetrics:
    """Stands in for a Learner's ``MetricsLogger`` during the minibatch loop: a statistic
    logged with ``window=1`` keeps its last value, any other logged value is kept in order;
    :meth:`release` logs them into the logger. Anything else goes to the logger at once."""

    def __init__(self, logger: Any):
        self._logger = logger
        self._last: dict[tuple, tuple[Any, dict]] = {}
        self._all: list[tuple[tuple, Any, dict]] = []

    def log_value(self, key: Any, value: Any, **kwargs: Any) -> None:
        if kwargs.get("window") == 1:
            self._last[_key(key)] = (value, kwargs)
        else:
            self._all.append((_key(key), value, kwargs))

    def log_dict(self, value_dict: dict, *, key: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("reduce", "mean")  # MetricsLogger.log_dict's default
        prefix = () if key is None else _key(key)
        for name, value in value_dict.items():
            if isinstance(value, dict):
                self.log_dict(value, key=prefix + _key(name), **kwargs)
            else:
                self.log_value(prefix + _key(name), value, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logger, name)

    def release(self) -> None:
        for key, value, kwargs in self._all:
            self._logger.log_value(key, value, **kwargs)
        for key, (value, kwargs) in self._last.items():
            self._logger.log_value(key, value, **kwargs)


def _gather(columns: Any, rows: torch.Tensor) -> Any:
    if isinstance(columns, dict):
        return {key: _gather(column, rows) for key, column in columns.items()}
    return torch.index_select(columns, 0, rows)


def _split(columns: Any, sizes: list[int]) -> list[Any]:
    """``columns`` cut along their rows into consecutive parts of ``sizes`` rows (views)."""
    if isinstance(columns, dict):
        parts = {key: _split(column, sizes) for key, column in columns.items()}
        return [{key: part[i] for key, part in parts.items()} for i in range(len(sizes))]
    return list(torch.split(columns, sizes))


def _minibatches(
    columns: dict[str, Any], plan: Iterator[dict[str, np.ndarray]]
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The minibatches of ``plan`` (row indices per module), gathered in one go per module:
    each minibatch's rows that the loss mask keeps, without the mask; and the rows per module
    over all minibatches, masked ones included (as RLlib counts them)."""
    plan = list(plan)
    if not plan:
        return [], {}
    minibatches: list[dict[str, Any]] = [{} for _ in plan]
    counted = {}
    for module_id, module_columns in columns.items():
        rows = [r[module_id] for r in plan]
        counted[module_id] = sum(len(r) for r in rows)
        mask = module_columns.pop(Columns.LOSS_MASK, None)
        if mask is not None:
            keep = mask.detach().cpu().numpy().astype(bool)
            rows = [r[keep[r]] for r in rows]
        gathered = _gather(module_columns, torch.from_numpy(np.concatenate(rows)))
        parts = _split(gathered, [len(r) for r in rows])
        for minibatch, part in zip(minibatches, parts, strict=True):
            minibatch[module_id] = part
    return minibatches, counted


def fuse_adam(optimizer: torch.optim.Optimizer) -> None:
    """Switches a ``torch.optim.Adam`` to its fused kernel where every parameter allows it
    (floating point, on CPU or CUDA); other optimizers are left as they are."""
    if type(optimizer) is not torch.optim.Adam:
        return
    for group in optimizer.param_groups:
        if not group["differentiable"] and all(
            p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in group["params"]
        ):
            group["fused"], group["foreach"] = True, False


class WholeBatchUpdate:
    """Mixin for a TorchLearner: ``update`` over minibatches gathered from whole tensors,
    bookkeeping once per update (see the module docstring)."""

    def build(self) -> None:
        super().build()
        self._gradients_kept = self._postprocessing_keeps_gradients()

    def configure_optimizers_for_module(self, module_id: str, config: Any = None) -> None:
        super().configure_optimizers_for_module(module_id=module_id, config=config)
        for _, optimizer in self.get_optimizers_for_module(module_id):
            fuse_adam(optimizer)

    def update(
        self,
        batch: Any = None,
        batches: Any = None,
        batch_refs: Any = None,
        episodes: Any = None,
        episodes_refs: Any = None,
        data_iterators: Any = None,
        training_data: TrainingData | None = None,
        *,
        timesteps: dict[str, Any] | None = None,
        num_total_minibatches: int = 0,
        num_epochs: int = 1,
        minibatch_size: int | None = None,
        shuffle_batch_per_epoch: bool = False,
        _no_metrics_reduce: bool = False,
        **kwargs: Any,
    ) -> Any:
        if not self._whole_batch_serves(data_iterators, training_data):
            return super().update(
                batch=batch,
                batches=batches,
                batch_refs=batch_refs,
                episodes=episodes,
                episodes_refs=episodes_refs,
                data_iterators=data_iterators,
                training_data=training_data,
                timesteps=timesteps,
                num_total_minibatches=num_total_minibatches,
                num_epochs=num_epochs,
                minibatch_size=minibatch_size,
                shuffle_batch_per_epoch=shuffle_batch_per_epoch,
                _no_metrics_reduce=_no_metrics_reduce,
                **kwargs,
            )
        self._check_is_built()
        timesteps = timesteps or {}
        self.before_gradient_based_update(timesteps=timesteps)
        if training_data is None:
            training_data = TrainingData(
                batch=batch,
                batches=batches,
                batch_refs=batch_refs,
                episodes=episodes,
                episodes_refs=episodes_refs,
            )
        training_data.validate()
        training_data.solve_refs()
        self._weights_seq_no += 1
        multi = self._make_batch_if_necessary(training_data=training_data)
        unknown = set(multi.policy_batches) - set(self.module.keys())
        if unknown:
            raise ValueError(f"the train batch holds modules this Learner lacks: {unknown}")
        columns = {
            module_id: self._tensors(module_id, dict(module_batch))
            for module_id, module_batch in multi.policy_batches.items()
            if self.should_module_be_updated(module_id, multi)
        }
        if columns:
            lengths = {m: len(multi.policy_batches[m]) for m in columns}
            if minibatch_size or num_epochs > 1:
                plan = minibatch_rows(
                    lengths,
                    minibatch_size or multi.count,
                    num_epochs,
                    bool(minibatch_size and shuffle_batch_per_epoch and num_epochs > 1),
                    num_total_minibatches,
                )
            else:  # RLlib's dummy iterator: the whole batch, once
                plan = iter([{m: np.arange(n) for m, n in lengths.items()}])
            self._epochs(columns, plan, multi.count)
        self.after_gradient_based_update(timesteps=timesteps)
        if not _no_metrics_reduce:
            return self.metrics.reduce()
        return None

    def _whole_batch_serves(self, data_iterators: Any, training_data: Any) -> bool:
        """Whether this update can take the whole-batch loop (else RLlib's own)."""
        return (
            not data_iterators
            and not (training_data is not None and training_data.data_iterators)
            and self.config.num_learners <= 1
            and not self.config.torch_compile_learner
            and self._grad_scalers is None
            and self._lr_scheduler_classes is None
            and not any(self.module[m].is_stateful() for m in self.module.keys())
        )

    def _tensors(self, module_id: str, columns: Any) -> Any:
        """A module's columns (dicts of arrays, nested as dict observations are) as tensors."""
        if isinstance(columns, dict):
            return {key: self._tensors(module_id, value) for key, value in columns.items()}
        if isinstance(columns, torch.Tensor):
            return columns
        if isinstance(columns, np.ndarray):
            return torch.as_tensor(columns, device=self._device)
        raise ValueError(
            f"train batch of module {module_id!r}: a column of {type(columns).__name__}, "
            f"not an array"
        )

    def _epochs(self, columns: dict[str, Any], plan: Iterator[dict], env_steps: int) -> None:
        """The minibatch loop, then its statistics and counters."""
        self._gradients_kept = self._postprocessing_keeps_gradients()  # modules come and go
        for module_id in columns:
            module = self.module[module_id]
            if module.inference_only:
                raise RuntimeError(f"module {module_id!r} is inference-only; it cannot train")
            module.train()
        minibatches, sizes = _minibatches(columns, plan)
        if not minibatches:
            return
        logger = self.metrics
        held = self.metrics = HeldMetrics(logger)
        start = time.perf_counter()
        try:
            for minibatch in minibatches:
                losses = self.minibatch_step(minibatch)
        finally:
            self.metrics = logger
        elapsed = time.perf_counter() - start
        held.release()
        self._compute_off_policyness(minibatches[-1])
        self._log_loop(sizes, len(minibatches), env_steps, elapsed)
        for module_id, loss in losses.items():
            self.metrics.log_value(key=(module_id, self.TOTAL_LOSS_KEY), value=loss, window=1)

    def minibatch_step(self, minibatch: dict[str, Any]) -> dict[str, Any]:
        """One gradient step on one minibatch; the loss per module."""
        fwd_out = {m: self.module[m]._forward_train(b) for m, b in minibatch.items()}
        losses = self.compute_losses(fwd_out=fwd_out, batch=minibatch)
        for optimizer in self._optimizer_parameters:
            optimizer.zero_grad(set_to_none=True)
        total = sum(losses.values())
        if isinstance(total, int) or total.grad_fn is None:
            return losses  # no loss, or nothing trainable in it: no step (as RLlib)
        total.backward()
        grads = {ref: p.grad for ref, p in self._params.items() if p.grad is not None}
        if not self._gradients_kept:
            grads = self.postprocess_gradients(grads)
            for ref, grad in grads.items():
                self._params[ref].grad = grad
        if not grads:
            return losses
        # the sum of all entries is finite unless one is not (or the sum overflows, a false
        # alarm that RLlib's path then handles exactly)
        if not math.isfinite(torch.cat([g.reshape(-1) for g in grads.values()]).sum().item()):
            self.apply_gradients(grads)
            return losses
        for optimizer, params in self._optimizer_parameters.items():
            if any(p.grad is not None for p in params):
                optimizer.step()
        return losses

    def _postprocessing_keeps_gradients(self) -> bool:
        """Whether ``postprocess_gradients`` returns the gradients as they are: RLlib's own,
        with no clipping and no gradient logging for any module."""
        cls = type(self)
        return (
            cls.postprocess_gradients is Learner.postprocess_gradients
            and cls.postprocess_gradients_for_module is Learner.postprocess_gradients_for_module
            and all(
                self.config.get_config_for_module(m).grad_clip is None
                and not self.config.get_config_for_module(m).log_gradients
                for m in self.module.keys()
            )
        )

    def _log_loop(self, sizes: dict[str, int], count: int, env_steps: int, elapsed: float) -> None:
        """The counters RLlib logs per minibatch, logged once with the loop's totals."""
        log = self.metrics.log_value
        for module_id, rows in sizes.items():
            log((module_id, WEIGHTS_SEQ_NO), self._weights_seq_no, window=1)
            log((module_id, MODULE_TRAIN_BATCH_SIZE_MEAN), rows // max(count, 1), reduce="mean")
            log((module_id, NUM_MODULE_STEPS_TRAINED), rows, reduce="sum")
            log(
                (module_id, NUM_MODULE_STEPS_TRAINED_LIFETIME),
                rows,
                reduce="lifetime_sum",
                with_throughput=True,
            )
            log((ALL_MODULES, NUM_MODULE_STEPS_TRAINED), rows, reduce="sum", with_throughput=True)
            log(
                (ALL_MODULES, NUM_MODULE_STEPS_TRAINED_LIFETIME),
                rows,
                reduce="lifetime_sum",
                with_throughput=True,
            )
        trained = env_steps * count  # RLlib counts the whole batch's env steps per minibatch
        log((ALL_MODULES, NUM_ENV_STEPS_TRAINED), trained, reduce="sum", with_throughput=True)
        log(
            (ALL_MODULES, NUM_ENV_STEPS_TRAINED_LIFETIME),
            trained,
            reduce="lifetime_sum",
            with_throughput=True,
        )
        if trained > 0:
            self._metrics_all_modules_num_env_steps_trained.inc(value=trained)
            self._metrics_all_modules_num_module_steps_trained.inc(value=sum(sizes.values()))
            self._metrics_learner_inner_update.observe(elapsed / count)


class WholeBatchPPOLearner(WholeBatchUpdate, PPOTorchLearner):
    """RLlib's PPO torch learner with the whole-batch minibatch loop."""


class WholeBatchMagnetPPOLearner(WholeBatchUpdate, MagnetPPOLearner):
    """MMD's magnet PPO learner (:mod:`metagame.agents.rllib.magnet`) with the whole-batch
    minibatch loop."""


WHOLE_BATCH_LEARNERS = {
    PPOTorchLearner: WholeBatchPPOLearner,
    MagnetPPOLearner: WholeBatchMagnetPPOLearner,
}


def use_whole_batch_learner(config: Any) -> Any:
    """``config`` learning with the whole-batch loop if its learner is RLlib's PPO torch
    learner or MMD's (:data:`WHOLE_BATCH_LEARNERS`); any other config is returned unchanged."""
    learner = config.learner_class or config.get_default_learner_class()
    if learner in WHOLE_BATCH_LEARNERS:
        config = config.learners(learner_class=WHOLE_BATCH_LEARNERS[learner])
    return config
