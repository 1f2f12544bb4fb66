"""The Diffusion Policy network and its noise schedule (torch only, written for this suite).

`TemporalUNet` is a 1-D U-Net over the action sequence (time is the convolution axis, action
dimensions the channels): per level two residual conv blocks (Conv1d, GroupNorm, Mish) whose
features are scaled and shifted (FiLM) by a conditioning vector, then a strided conv halving the
sequence; a middle of two blocks; the way up concatenates the skip features of the same level
and doubles the sequence with a transposed conv. The conditioning vector is the sinusoidal
embedding of the diffusion step (through a small MLP) concatenated with the flattened, normalised
last `n_obs` observations (Chi et al., RSS 2023, "global conditioning").

`NoiseSchedule` is DDPM's forward process with the squared-cosine betas (Nichol & Dhariwal 2021)
over `train_steps` steps (diffusers' "squaredcos_cap_v2": betas capped at 0.999, so the last
step's alpha-bar is ~2e-7, pure noise); the network predicts the clean action window ("sample")
or the noise ("epsilon"), and `ddim_sample` runs the deterministic DDIM update (eta = 0) on an
evenly spaced subset of the steps, clipping each x0 estimate to the actions' [-1, 1]
(`action_bound`, diffusers' clip_sample); only the initial noise is random: a seeded generator
gives the same actions every time.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from dexbench.policies.bc.model import Normalizer
from dexbench.policies.diffusion import PREDICTIONS

GROUPS = 8  # GroupNorm groups (every channel count must be a multiple)
KERNEL = 5
STEP_EMBED = 128  # width of the diffusion-step embedding


class SinusoidalEmbedding(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / (half - 1))
        angles = t.float()[:, None] * freqs[None]
        return torch.cat([angles.sin(), angles.cos()], dim=-1)


def _conv_block(c_in: int, c_out: int, kernel: int, groups: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2), nn.GroupNorm(groups, c_out), nn.Mish())


class FiLMResBlock(nn.Module):
    """Two conv blocks; the conditioning vector scales and shifts the first one's output per
    channel; a 1x1 conv carries the input when the width changes."""

    def __init__(self, c_in: int, c_out: int, cond_dim: int, kernel: int, groups: int) -> None:
        super().__init__()
        self.first = _conv_block(c_in, c_out, kernel, groups)
        self.second = _conv_block(c_out, c_out, kernel, groups)
        self.film = nn.Sequential(nn.Mish(), nn.Linear(cond_dim, 2 * c_out))
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.first(x)
        scale, shift = self.film(cond).unsqueeze(-1).chunk(2, dim=1)
        h = self.second(scale * h + shift)
        return h + self.skip(x)


class TemporalUNet(nn.Module):
    """(B, horizon, act_dim) noisy normalised actions, (B,) diffusion steps, (B, n_obs * obs_dim)
    normalised observations -> (B, horizon, act_dim) predicted noise. The normalisers of the
    observations and actions are buffers, so a checkpoint is one state_dict."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        horizon: int = 16,
        n_obs: int = 2,
        n_action: int = 8,
        channels: tuple[int, ...] | list[int] = (64, 128, 256),
        step_embed: int = STEP_EMBED,
        kernel: int = KERNEL,
        groups: int = GROUPS,
    ) -> None:
        super().__init__()
        self.obs_dim, self.act_dim, self.horizon, self.n_obs, self.n_action = obs_dim, act_dim, horizon, n_obs, n_action
        self.obs_norm, self.act_norm = Normalizer(obs_dim), Normalizer(act_dim)
        # |normalised action| bound: DDIM clips its x0 estimate to it. 1 (the actions are scaled to
        # [-1, 1]); a buffer, so checkpoints of the first, mean/std-normalised version keep theirs.
        self.register_buffer("action_bound", torch.tensor(1.0))
        channels = list(channels)
        self.step_mlp = nn.Sequential(
            SinusoidalEmbedding(step_embed),
            nn.Linear(step_embed, 4 * step_embed),
            nn.Mish(),
            nn.Linear(4 * step_embed, step_embed),
        )
        cond = step_embed + n_obs * obs_dim
        widths = [act_dim] + channels
        self.down = nn.ModuleList()
        for level, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            last = level == len(channels) - 1
            self.down.append(
                nn.ModuleList(
                    [
                        FiLMResBlock(a, b, cond, kernel, groups),
                        FiLMResBlock(b, b, cond, kernel, groups),
                        nn.Conv1d(b, b, 3, stride=2, padding=1) if not last else nn.Identity(),
                    ]
                )
            )
        self.mid = nn.ModuleList([FiLMResBlock(channels[-1], channels[-1], cond, kernel, groups) for _ in range(2)])
        self.up = nn.ModuleList()
        # Each level on the way up doubles the sequence back: horizon / 2^(levels-1) -> horizon.
        # The first level's skip, at full length, joins the head (Chi et al.'s network leaves it
        # out; without it a narrow net learns even the identity slowly: 0.32 MSE after 300 steps).
        for a, b in reversed(list(zip(channels[:-1], channels[1:]))):
            self.up.append(
                nn.ModuleList(
                    [
                        FiLMResBlock(2 * b, a, cond, kernel, groups),
                        FiLMResBlock(a, a, cond, kernel, groups),
                        nn.ConvTranspose1d(a, a, 4, stride=2, padding=1),
                    ]
                )
            )
        self.head = nn.Sequential(
            _conv_block(2 * channels[0], channels[0], kernel, groups), nn.Conv1d(channels[0], act_dim, 1)
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor, obs_cond: torch.Tensor) -> torch.Tensor:
        cond = torch.cat([self.step_mlp(t), obs_cond], dim=-1)
        h = x.transpose(1, 2)  # (B, act_dim, horizon): time is the conv axis
        skips = []
        for first, second, down in self.down:
            h = second(first(h, cond), cond)
            skips.append(h)
            h = down(h)
        for block in self.mid:
            h = block(h, cond)
        for first, second, up in self.up:
            h = torch.cat([h, skips.pop()], dim=1)
            h = up(second(first(h, cond), cond))
        return self.head(torch.cat([h, skips.pop()], dim=1)).transpose(1, 2)


def count_parameters(model_kwargs: dict[str, Any], obs_dim: int, act_dim: int) -> int:
    """Parameters of the network these sizes describe, counted without allocating it (meta tensors)."""
    with torch.device("meta"):
        net = TemporalUNet(obs_dim, act_dim, **model_kwargs)
    return sum(p.numel() for p in net.parameters())


def build_model(config: dict[str, Any]) -> TemporalUNet:
    return TemporalUNet(config["obs_dim"], config["act_dim"], **config["model"])


class NoiseSchedule:
    """DDPM with squared-cosine betas over `train_steps` steps; the network predicts the noise
    ("epsilon", Chi et al.'s default) or the clean action window ("sample")."""

    def __init__(self, train_steps: int = 100, prediction: str = "sample") -> None:
        if prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {', '.join(PREDICTIONS)}, got {prediction!r}")
        self.train_steps, self.prediction = train_steps, prediction

        def alpha_bar(t: float) -> float:
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

        betas = [
            min(1 - alpha_bar((i + 1) / train_steps) / alpha_bar(i / train_steps), 0.999) for i in range(train_steps)
        ]
        self.alphas_cumprod = torch.cumprod(1 - torch.tensor(betas, dtype=torch.float64), 0).float()

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = self.alphas_cumprod.to(x0.device)[t].view(-1, 1, 1)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def target(self, x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """What the network is trained to output for clean actions `x0` noised with `noise`."""
        return noise if self.prediction == "epsilon" else x0

    def ddim_timesteps(self, steps: int) -> list[int]:
        """`steps` distinct diffusion steps, evenly spaced from the noisiest (train_steps - 1) down to 0."""
        if steps == 1:
            return [self.train_steps - 1]
        return [round((self.train_steps - 1) * (steps - 1 - k) / (steps - 1)) for k in range(steps)]

    @torch.no_grad()
    def ddim_sample(
        self, model: TemporalUNet, obs_cond: torch.Tensor, steps: int, generator: torch.Generator
    ) -> torch.Tensor:
        """(B, horizon, act_dim) normalised actions for the normalised observations `obs_cond`.
        The initial noise is drawn on the CPU from `generator` (the same on every device)."""
        b = obs_cond.shape[0]
        x = torch.randn((b, model.horizon, model.act_dim), generator=generator).to(obs_cond.device)
        ab_all = self.alphas_cumprod.to(obs_cond.device)
        times = self.ddim_timesteps(steps)
        bound = model.action_bound
        for k, t in enumerate(times):
            t_batch = torch.full((b,), t, dtype=torch.long, device=obs_cond.device)
            out = model(x, t_batch, obs_cond)
            ab = ab_all[t]
            ab_prev = ab_all[times[k + 1]] if k + 1 < len(times) else torch.tensor(1.0, device=obs_cond.device)
            x0 = (x - (1 - ab).sqrt() * out) / ab.sqrt() if self.prediction == "epsilon" else out
            x0 = x0.clamp(-bound, bound)
            eps = (x - ab.sqrt() * x0) / (1 - ab).sqrt()  # the noise consistent with the clipped x0
            x = ab_prev.sqrt() * x0 + (1 - ab_prev).sqrt() * eps
        return x
