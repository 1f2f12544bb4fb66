"""The flywheel (DexFlyWheel): imitation base + residual RL + rollouts + augmentation. So far:
the residual RL problem (`residual.py`); the generator and its pipeline come next."""
