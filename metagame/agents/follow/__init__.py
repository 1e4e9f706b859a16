"""Learn to Follow (Skrynnik et al., AAAI 2024) for lifelong MAPF: congestion-aware planning
(:mod:`.congestion`) plus a learned follower (:mod:`.network`, :mod:`.observation`) trained with
PPO (:mod:`.training`), run as a policy (:mod:`.follower`) whose choices pass through a PIBT
collision shield (Veerapaneni et al., ICAPS 2024) before they reach the env."""
