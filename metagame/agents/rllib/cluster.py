"""Starting Ray for training: one place for the settings every entry point shares."""

from __future__ import annotations

NO_PRESTART = {"enable_worker_prestart": False, "prestart_worker_first_driver": False}


def init_ray(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Starts Ray quietly unless it is running; returns whether it started it.

    Without ``address`` it starts a local instance ("local": never attach by accident to a
    cluster found on the machine), whose workers start when needed; with one it joins that
    cluster. No dashboard, and worker logs stay in Ray's log files instead of the driver's
    output; start-up notices that say nothing to a user are filtered (``quiet``).
    """
    import ray

    from metagame.agents.rllib.quiet import quiet_notices

    quiet_notices()
    if ray.is_initialized():
        return False
    # A local instance starts no idle Python workers (Ray prestarts one per CPU, which competes
    # for the CPUs with the caller's start-up, about 1 s on two cores; RLlib's remote actors
    # start their workers when they are created)
    local = {} if address else {"_system_config": NO_PRESTART}
    ray.init(
        address=address or "local",
        num_cpus=num_cpus,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        **local,
    )
    return True
