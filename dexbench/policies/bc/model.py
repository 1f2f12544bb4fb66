"""The BC networks: an MLP that predicts a chunk of future actions, a recurrent (LSTM) one, and the
pixel variant of the MLP (camera images through `vision.py`'s encoder, plus proprioception).

All read normalised state observations (the pixel net also images) and emit normalised actions; the normalisation
statistics are buffers of the module, so a checkpoint is a plain `state_dict` of tensors (loaded
with `torch.load(weights_only=True)`: no pickled code) plus a JSON config that rebuilds the
module with `build_model`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dexbench.policies.bc.vision import ImageEncoder


class Normalizer(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def set(self, mean, std) -> None:
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.std.copy_(torch.as_tensor(std, dtype=torch.float32))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean


class ChunkMLP(nn.Module):
    """obs_t -> actions t .. t+chunk-1 (action chunking, as in ACT / Diffusion Policy)."""

    def __init__(self, obs_dim: int, act_dim: int, chunk: int = 10, hidden: int = 512, layers: int = 3) -> None:
        super().__init__()
        self.obs_norm, self.act_norm = Normalizer(obs_dim), Normalizer(act_dim)
        self.chunk, self.act_dim = chunk, act_dim
        dims = [obs_dim] + [hidden] * layers
        blocks: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            blocks += [nn.Linear(a, b), nn.LayerNorm(b), nn.GELU()]
        self.body = nn.Sequential(*blocks, nn.Linear(dims[-1], chunk * act_dim))

    def forward(self, obs_norm: torch.Tensor) -> torch.Tensor:
        """(B, obs_dim) normalised obs -> (B, chunk, act_dim) normalised actions."""
        return self.body(obs_norm).view(-1, self.chunk, self.act_dim)


class RecurrentPolicy(nn.Module):
    """obs_1..obs_L -> action_1..action_L through an LSTM (robomimic's BC-RNN). With `modes` > 0
    the head is a mixture of `modes` Gaussians with diagonal covariances (robomimic's BC-RNN-GMM),
    trained by its negative log-likelihood (`nll`); it acts with the mean of its most likely mode,
    so that a rollout is deterministic (robomimic samples the mixture with its stds shrunk to
    1e-4, which picks a mode at random)."""

    MIN_STD = 1e-4  # robomimic's gmm_min_std

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 400, layers: int = 2, modes: int = 0) -> None:
        super().__init__()
        self.obs_norm, self.act_norm = Normalizer(obs_dim), Normalizer(act_dim)
        self.lstm = nn.LSTM(obs_dim, hidden, num_layers=layers, batch_first=True)
        self.act_dim, self.modes = act_dim, modes
        self.head = nn.Linear(hidden, act_dim if modes == 0 else modes * (2 * act_dim + 1))

    def forward(self, obs_norm: torch.Tensor, state=None):
        """(B, L, obs_dim) normalised obs -> ((B, L, act_dim) normalised actions, LSTM state)."""
        out, state = self.lstm(obs_norm, state)
        if self.modes == 0:
            return self.head(out), state
        means, _, logits = self._mixture(out)
        best = logits.argmax(-1)[..., None, None].expand(*means.shape[:-2], 1, self.act_dim)
        return means.gather(-2, best).squeeze(-2), state

    def _mixture(self, out: torch.Tensor):
        k, a = self.modes, self.act_dim
        raw = self.head(out)
        means = raw[..., : k * a].unflatten(-1, (k, a))
        stds = F.softplus(raw[..., k * a : 2 * k * a].unflatten(-1, (k, a))) + self.MIN_STD
        return means, stds, raw[..., 2 * k * a :]

    def nll(self, obs_norm: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The mixture's mean negative log-likelihood of the normalised actions `target` (B, L, act_dim)."""
        means, stds, logits = self._mixture(self.lstm(obs_norm)[0])
        per_mode = torch.distributions.Normal(means, stds).log_prob(target.unsqueeze(-2)).sum(-1)
        return -torch.logsumexp(per_mode + F.log_softmax(logits, -1), -1).mean()


class PixelChunkMLP(nn.Module):
    """(proprioception_t, images_t) -> actions t .. t+chunk-1: the image features of every camera
    joined to the normalised proprioception, into `ChunkMLP`'s body."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        cameras: int,
        image_size: int,
        chunk: int = 10,
        hidden: int = 512,
        layers: int = 3,
        channels: int = 32,
        keypoints: int = 32,
    ) -> None:
        super().__init__()
        self.obs_norm = Normalizer(obs_dim)
        self.encoder = ImageEncoder(cameras, image_size, channels, keypoints)
        self.head = ChunkMLP(obs_dim + self.encoder.out_dim, act_dim, chunk, hidden, layers)
        self.chunk, self.act_dim = chunk, act_dim

    @property
    def act_norm(self) -> Normalizer:
        return self.head.act_norm

    def forward(
        self, obs_norm: torch.Tensor, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """(B, obs_dim) normalised proprioception, (B, cameras, H, W, 3) uint8 images -> (B, chunk,
        act_dim) normalised actions; `generator` draws training crops (none: centre crops)."""
        return self.head(torch.cat([obs_norm, self.encoder(images, generator)], dim=1))


ARCHITECTURES = {"mlp": ChunkMLP, "rnn": RecurrentPolicy}
OBSERVATIONS = ("state", "rgb")  # what a policy reads: the state, or images + proprioception


# Weights and buffers of one network, at most: 250 M float32 numbers are 1 GB, a thousand times the
# default 3 x 256 MLP. Each size in a config has its own bound, but together (an obs_dim of 10^6
# into 64 layers 16384 wide, a chunk of 1000 actions of 10^6) they could ask for terabytes, which
# torch would try to allocate (and the machine swap) before any error.
MAX_PARAMETERS = 250_000_000


def build_model(config: dict[str, Any]) -> nn.Module:
    """The network a checkpoint config describes; ValueError for one over MAX_PARAMETERS, counted
    before anything is allocated."""
    arch, obs = config["arch"], config.get("obs", "state")
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown BC architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    if obs not in OBSERVATIONS:
        raise ValueError(f"unknown BC observations {obs!r}; known: {', '.join(OBSERVATIONS)}")
    if obs == "rgb" and arch != "mlp":
        raise ValueError(f"pixel BC (obs rgb) is built on the mlp architecture, not {arch!r}")
    cls = PixelChunkMLP if obs == "rgb" else ARCHITECTURES[arch]

    def make() -> nn.Module:
        return cls(config["obs_dim"], config["act_dim"], **config["model"])

    count = parameter_count(make)
    if count > MAX_PARAMETERS:
        sizes = ", ".join(
            f"{k}={v}"
            for k, v in {"obs_dim": config["obs_dim"], "act_dim": config["act_dim"], **config["model"]}.items()
        )
        raise ValueError(
            f"the network ({sizes}) would hold {count:,} weights ({4 * count / 1e9:,.1f} GB), over "
            f"the limit of {MAX_PARAMETERS:,} ({4 * MAX_PARAMETERS / 1e9:g} GB); make it smaller "
            "(--hidden, --layers, --chunk)"
        )
    return make()


def parameter_count(make) -> int:
    """Weights and buffers of the network `make()` builds, counted on torch's meta device (shapes
    only: nothing allocated, however large)."""
    with torch.device("meta"):
        model = make()
    return sum(t.numel() for t in (*model.parameters(), *model.buffers()))
