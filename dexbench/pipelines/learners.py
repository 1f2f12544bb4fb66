"""The learners a pipeline trains on a dataset, by their config: BC (`BCConfig`: the chunking MLP,
the LSTM, pixel BC) and the Diffusion Policy (`DiffusionConfig`). What a pipeline needs of one is
the same for both: train it into a checkpoint folder, tell whether a folder already holds that
training, and the policy that evaluates its checkpoints."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

BC_POLICY = "dexbench.policies:BCPolicy"
DIFFUSION_POLICY = "dexbench.policies:DiffusionPolicy"
LEARNERS = ("bc", "diffusion")


def _is_diffusion(config: Any) -> bool:
    from dexbench.policies.diffusion.train import DiffusionConfig

    return isinstance(config, DiffusionConfig)


def resolved(config: Any, keep_checkpoints: int) -> Any:
    """A copy of `config` keeping `keep_checkpoints` checkpoints, with the network's options
    filled in as training records them (so a stage record made before training equals the
    checkpoint's own)."""
    config = dataclasses.replace(config, keep_checkpoints=keep_checkpoints)
    if _is_diffusion(config):
        config.channels = list(config.channels)
    config.model = config.model_kwargs()
    return config


def learner_name(config: Any) -> str:
    return "diffusion" if _is_diffusion(config) else "bc"


def policy_label(config: Any) -> str:
    """The downstream policy's name in a comparison's rows: bc-mlp, bc-rnn, bc-rnn-gmm, bc-mlp-rgb, diffusion."""
    if _is_diffusion(config):
        return "diffusion"
    return f"bc-{config.arch}" + ("-gmm" if config.gmm_modes else "") + ("-rgb" if config.obs == "rgb" else "")


def policy_spec(config: Any) -> str:
    return DIFFUSION_POLICY if _is_diffusion(config) else BC_POLICY


def train(config: Any, data: str | Path, out: str | Path, progress: bool) -> None:
    if _is_diffusion(config):
        from dexbench.policies.diffusion.train import train_diffusion

        train_diffusion(data, out, config, progress=progress)
    else:
        from dexbench.policies.bc.train import train_bc

        train_bc(data, out, config, progress=progress)


def checkpoint_sha256(spec: str, checkpoint: str | Path) -> str:
    """The SHA-256 of the weights of a checkpoint of the policy `spec`, read as the policy would
    read them (a damaged checkpoint is refused here)."""
    if spec == DIFFUSION_POLICY:
        from dexbench.policies.diffusion.policy import load_checkpoint
    else:
        from dexbench.policies.bc.policy import load_checkpoint
    return load_checkpoint(checkpoint)[2]


__all__ = ["LEARNERS", "checkpoint_sha256", "learner_name", "policy_label", "policy_spec", "resolved", "train"]
