"""Learned traffic drivers in the spirit of iPLAN (Wu et al., CoRL 2023): neighbours' driver
types inferred from their observed kinematics (:mod:`.intent`), and a shared policy that
picks each step which IDM/MOBIL driver style its vehicle drives with (:mod:`.learned_driver`),
trained with PPO (:mod:`.training`) and scored by success and collisions (:mod:`.evaluation`)."""
