"""The residual's on-policy and SAC learners: stable-baselines3's PPO and SAC on a `ResidualEnv`,
set up so that base + residual starts as the base (`train_residual(learner="ppo" | "sac")`)."""

from __future__ import annotations

import gymnasium as gym

# PPO on a small budget must not wreck a working base (docs/generation.md, Pouring-PandaDex, base
# 56 %): learning rate 3e-4 without a KL bound took base + residual to 0-10 %; 3e-5 with updates
# stopped at a KL of 0.01, a zero initial residual and exploration of 0.14 alpha kept 60 %.
INITIAL_LOG_STD = -2.0  # the exploration of either learner at first (SAC: its log-std layer's bias)
PPO_LEARNING_RATE = 3e-5
PPO_TARGET_KL = 0.01  # an update's epochs stop once the policy moved this far


def make_learner(name: str, env: gym.Env, seed: int, steps: int, overrides: dict | None = None):
    """Stable-baselines3's `name` ("ppo" or "sac") on `env` (a `ResidualEnv`), its mean output at zero."""
    import torch
    from stable_baselines3 import PPO, SAC

    # A small network and short rollouts: the residual corrects a competent base, it does not
    # learn the task (and the CPU budget is minutes per iteration; benchmarks/residual_rl.py).
    kwargs = dict(seed=seed, device="cpu", verbose=0, policy_kwargs={"net_arch": [128, 128]})
    overrides = dict(overrides or {})
    log_std = overrides.pop("log_std_init", INITIAL_LOG_STD)
    if name == "ppo":
        kwargs["policy_kwargs"]["log_std_init"] = log_std
        n_steps = min(overrides.pop("n_steps", 1024), max(64, steps))  # a short run still ends where asked
        settings = dict(
            n_steps=n_steps,
            batch_size=min(256, n_steps),
            n_epochs=5,
            learning_rate=PPO_LEARNING_RATE,
            target_kl=PPO_TARGET_KL,
        )
        model = PPO("MlpPolicy", env, **{**settings, **overrides}, **kwargs)
        mean_layer = model.policy.action_net
    else:
        settings = dict(learning_starts=1000, batch_size=256, buffer_size=100_000)
        model = SAC("MlpPolicy", env, **{**settings, **overrides}, **kwargs)
        mean_layer = model.actor.mu
        torch.nn.init.zeros_(model.actor.log_std.weight)
        torch.nn.init.constant_(model.actor.log_std.bias, log_std)
    # The residual starts at exactly zero: base + residual is the base until learning says
    # otherwise. Stable-baselines3's small random init is not zero on our unnormalised state
    # (a mean of 0.07 on one dimension), and in delta action mode a constant correction is a
    # velocity: it walked the hand away (56 % -> 0 % on Pouring before this).
    torch.nn.init.zeros_(mean_layer.weight)
    torch.nn.init.zeros_(mean_layer.bias)
    return model
