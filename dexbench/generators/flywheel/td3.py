"""The off-policy residual learner: TD3 with the pieces residual fine-tuning of a frozen base needs.

On-policy PPO with one env on a CPU never moved a residual out of its noise (docs/generation.md,
"Residual RL"). This learner follows the recipe that made per-step residuals on action-chunked
imitation bases work on these tasks (ResFiT, 2025; Policy Decorator's critic over the summed
action):
- the actor's last layer starts at exactly zero: base + residual is the base until the critic
  says otherwise; small Gaussian exploration noise (`noise_std`, in residual units);
- a critic-only warm-up (`critic_warmup` updates) before the actor moves, so the actor follows a
  critic that has already seen the data instead of its random initialisation;
- an ensemble of LayerNorm critics (`critics`), the target the minimum of two drawn from it;
  n-step returns (`n_step`); `updates_per_step` gradient steps per env step;
- a share (`demo_fraction`) of every batch drawn from demonstrations expressed in residual units
  (`collect_demonstrations`), when there are any;
- the actor's learning rate far below the critic's.

The learner owns no env: `ResidualTD3.act` and `observe` are called by the training loop
(`train_td3` in residual.py's terms), so the same learner runs one env or a vector of them.
Everything it holds (networks, optimisers, replay, pending n-step windows, RNG) is saved by
`save` and restored by `load`, so a resumed run continues bit for bit.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn


@dataclass
class TD3Config:
    gamma: float = 0.99
    n_step: int = 3
    batch_size: int = 256
    updates_per_step: int = 1
    critic_lr: float = 3e-4
    actor_lr: float = 1e-4  # a third of the critic's: 3e-4 learnt the sanity case, then lost it (docs/generation.md)
    hidden: int = 256
    critics: int = 2  # ensemble size; the target takes the minimum of two members
    tau: float = 0.005  # target networks' soft-update rate
    noise_std: float = 0.05  # exploration, in residual units (the actor's tanh output)
    target_noise: float = 0.1  # target policy smoothing
    target_noise_clip: float = 0.3
    policy_delay: int = 2  # critic updates per actor update
    critic_warmup: int = 10_000  # critic-only updates before the actor moves
    learning_starts: int = 1_000  # transitions before the first update
    buffer_size: int = 1_000_000
    demo_fraction: float = 0.5  # share of each batch from demonstrations (when there are any)
    # A demonstration's own discounted return bounds its actions' value from below: the teacher
    # achieved it. Without the bound, a demo's value reaches back only as far as the actor
    # already imitates it (its targets bootstrap on the actor's action), n steps per update
    # sweep; with it, Q ranks the demonstrated action above the base's at once.
    demo_return_floor: bool = True
    # TD3+BC (Fujimoto and Gu, 2021): the actor also regresses the demonstrated residual on the
    # demonstrations' share of the batch, its Q term scaled by 1 / mean |Q|. Without it the actor
    # follows the critic's noise in the dimensions the demonstrations leave alone (measured on the
    # sanity case: arm corrections of 0.35 of full scale where the demonstrations make none).
    demo_bc: float = 1.0
    # An L2 pull of the actor's output towards zero on the batch's own-experience share: a
    # correction must be worth more to the critic than it costs here. In delta action mode any
    # held correction integrates into the hand's target, and an actor that follows the critic
    # into actions it has never tried drifts the arms off the task (docs/generation.md).
    actor_l2: float = 0.0

    def __post_init__(self) -> None:
        for name in ("n_step", "batch_size", "updates_per_step", "hidden", "policy_delay", "buffer_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"td3 {name} must be an integer >= 1, got {value!r}")
        if isinstance(self.critics, bool) or not isinstance(self.critics, (int, np.integer)) or self.critics < 2:
            raise ValueError(
                f"td3 critics must be an integer >= 2 (the target is the minimum of two), got {self.critics!r}"
            )
        for name in ("critic_warmup", "learning_starts"):
            if getattr(self, name) < 0:
                raise ValueError(f"td3 {name} must be >= 0, got {getattr(self, name)!r}")
        for name, lo, hi in (("gamma", 0.0, 1.0), ("tau", 0.0, 1.0), ("demo_fraction", 0.0, 1.0)):
            value = getattr(self, name)
            if not (np.isfinite(value) and lo <= value <= hi):
                raise ValueError(f"td3 {name} must be in [{lo}, {hi}], got {value!r}")
        for name in ("critic_lr", "actor_lr", "noise_std", "target_noise", "target_noise_clip", "demo_bc", "actor_l2"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"td3 {name} must be a number >= 0, got {value!r}")


def _mlp(inputs: int, outputs: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inputs, hidden),
        nn.LayerNorm(hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.LayerNorm(hidden),
        nn.ReLU(),
        nn.Linear(hidden, outputs),
    )


class Actor(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, hidden: int) -> None:
        super().__init__()
        self.net = _mlp(obs_dim, act_dim, hidden)
        nn.init.zeros_(self.net[-1].weight)  # the residual starts at exactly zero (module docstring)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(obs))


class Critics(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, hidden: int, count: int) -> None:
        super().__init__()
        self.members = nn.ModuleList(_mlp(obs_dim + act_dim, 1, hidden) for _ in range(count))

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        x = torch.cat([obs, act], dim=-1)
        return torch.cat([m(x) for m in self.members], dim=-1)  # (batch, members)


class Replay:
    """Transitions (obs, act, n-step return, discount to the bootstrap, next obs) in a ring."""

    FIELDS = ("obs", "act", "ret", "discount", "next_obs", "floor")

    def __init__(self, obs_dim: int, act_dim: int, capacity: int) -> None:
        self.capacity, self.size, self.head = int(capacity), 0, 0
        self.obs = np.zeros((self.capacity, obs_dim), np.float32)
        self.act = np.zeros((self.capacity, act_dim), np.float32)
        self.ret = np.zeros(self.capacity, np.float32)
        self.discount = np.zeros(self.capacity, np.float32)  # 0 where the episode terminated
        self.next_obs = np.zeros((self.capacity, obs_dim), np.float32)
        self.floor = np.full(self.capacity, -np.inf, np.float32)  # a lower bound on the target (demos)

    def add(self, obs, act, ret, discount, next_obs, floor: float = -np.inf) -> None:
        i = self.head
        self.obs[i], self.act[i], self.ret[i], self.discount[i], self.next_obs[i] = obs, act, ret, discount, next_obs
        self.floor[i] = floor
        self.head = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, rng: np.random.Generator, count: int) -> list[np.ndarray]:
        idx = rng.integers(0, self.size, size=count)
        return [getattr(self, f)[idx] for f in self.FIELDS]

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        out = {f"{prefix}{f}": getattr(self, f)[: self.size] for f in self.FIELDS}
        out[f"{prefix}head"] = np.array([self.head, self.size, self.capacity])
        return out

    def restore(self, arrays: dict[str, np.ndarray], prefix: str) -> None:
        head, size, capacity = (int(v) for v in arrays[f"{prefix}head"])
        if size > self.capacity:
            raise ValueError(f"the checkpoint's replay holds {size} transitions, more than this run's {self.capacity}")
        # Another capacity (a finished run continued to a larger budget): the ring, oldest first.
        order = (
            np.arange(size)
            if capacity == self.capacity
            else (np.arange(size) + (head if size == capacity else 0)) % size
        )
        for f in self.FIELDS:
            getattr(self, f)[:size] = arrays[f"{prefix}{f}"][order]
        self.size = size
        self.head = head if capacity == self.capacity else size % self.capacity


class NStep:
    """One env's window of the last n transitions, emitted as n-step transitions into a replay."""

    def __init__(self, n: int, gamma: float) -> None:
        self.n, self.gamma, self.window = n, gamma, []

    def push(self, replay: Replay, obs, act, reward, next_obs, terminated: bool, ended: bool) -> None:
        self.window.append((obs, act, float(reward)))
        if terminated or ended:  # flush: every pending transition gets what remains
            while self.window:
                self._emit(replay, next_obs, terminated)
        elif len(self.window) == self.n:
            self._emit(replay, next_obs, False)

    def _emit(self, replay: Replay, next_obs, terminated: bool) -> None:
        ret = sum(self.gamma**k * r for k, (_, _, r) in enumerate(self.window))
        discount = 0.0 if terminated else self.gamma ** len(self.window)
        obs, act, _ = self.window.pop(0)
        replay.add(obs, act, ret, discount, next_obs)


class ResidualTD3:
    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        config: TD3Config,
        seed: int,
        envs: int = 1,
        device: str = "cpu",
        capacity: int | None = None,
    ) -> None:
        self.config, self.device = config, torch.device(device)
        torch.manual_seed(seed)
        self.actor = Actor(obs_dim, act_dim, config.hidden).to(self.device)
        self.critic = Critics(obs_dim, act_dim, config.hidden, config.critics).to(self.device)
        self.actor_target = Actor(obs_dim, act_dim, config.hidden).to(self.device)
        self.critic_target = Critics(obs_dim, act_dim, config.hidden, config.critics).to(self.device)
        self.actor_target.load_state_dict(self.actor.state_dict())
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=config.actor_lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=config.critic_lr)
        self.rng = np.random.default_rng(seed)
        self.torch_rng = torch.Generator(device="cpu").manual_seed(seed)
        self.replay = Replay(obs_dim, act_dim, capacity or config.buffer_size)
        self.demos = Replay(obs_dim, act_dim, 1)  # replaced by set_demonstrations
        self.windows = [NStep(config.n_step, config.gamma) for _ in range(envs)]
        self.updates = 0
        self.act_dim = act_dim
        self.log: list[dict] = []

    # ------------------------------------------------------------------ acting
    def act(self, obs: np.ndarray, explore: bool = True) -> np.ndarray:
        """Residual actions in [-1, 1] for a batch of residual observations (envs, obs_dim)."""
        with torch.no_grad():
            delta = self.actor(torch.as_tensor(obs, dtype=torch.float32, device=self.device)).cpu().numpy()
        if explore and self.config.noise_std > 0:
            delta = delta + self.rng.normal(0.0, self.config.noise_std, size=delta.shape)
        return np.clip(delta, -1.0, 1.0).astype(np.float32)

    def observe(self, env: int, obs, act, reward, next_obs, terminated: bool, ended: bool) -> None:
        """One env's transition; `ended` when its episode ended either way (truncation bootstraps)."""
        self.windows[env].push(self.replay, obs, act, reward, next_obs, terminated, ended)

    def set_demonstrations(self, transitions: list[tuple]) -> None:
        """Demonstrations in residual units: (obs, delta, reward, next_obs, terminated, ended) in order."""
        replay = Replay(self.replay.obs.shape[1], self.act_dim, max(1, len(transitions)))
        window = NStep(self.config.n_step, self.config.gamma)
        for obs, act, reward, next_obs, terminated, ended in transitions:
            window.push(replay, obs, act, reward, next_obs, terminated, ended)
        if self.config.demo_return_floor:  # each episode's discounted return from every step on
            returns, ahead = np.zeros(len(transitions), np.float32), 0.0
            for t in range(len(transitions) - 1, -1, -1):
                _, _, reward, _, terminated, ended = transitions[t]
                if ended:  # a truncated demonstration bounds nothing
                    ahead = reward if terminated else -np.inf
                else:
                    ahead = reward + self.config.gamma * ahead
                returns[t] = ahead
            replay.floor[: len(transitions)] = returns
        self.demos = replay if transitions else Replay(self.replay.obs.shape[1], self.act_dim, 1)

    # ------------------------------------------------------------------ learning
    def ready(self) -> bool:
        return self.replay.size >= max(1, self.config.learning_starts)

    def update(self) -> dict[str, float]:
        cfg = self.config
        n_demo = int(round(cfg.batch_size * cfg.demo_fraction)) if self.demos.size else 0
        parts = [self.replay.sample(self.rng, cfg.batch_size - n_demo)]
        if n_demo:
            parts.append(self.demos.sample(self.rng, n_demo))
        obs, act, ret, discount, next_obs, floor = (
            torch.as_tensor(np.concatenate(x), device=self.device) for x in zip(*parts)
        )
        with torch.no_grad():
            noise = torch.randn(act.shape, generator=self.torch_rng).to(self.device) * cfg.target_noise
            next_act = (self.actor_target(next_obs) + noise.clamp(-cfg.target_noise_clip, cfg.target_noise_clip)).clamp(
                -1, 1
            )
            pair = torch.randperm(cfg.critics, generator=self.torch_rng)[:2]
            next_q = self.critic_target(next_obs, next_act)[:, pair].min(dim=1).values
            target = torch.maximum(ret + discount * next_q, floor)
        q = self.critic(obs, act)
        critic_loss = ((q - target[:, None]) ** 2).mean()
        self.critic_opt.zero_grad()
        critic_loss.backward()
        self.critic_opt.step()
        stats = {"critic_loss": critic_loss.item(), "q": q.mean().item()}
        self.updates += 1
        if self.updates > cfg.critic_warmup and self.updates % cfg.policy_delay == 0:
            proposed = self.actor(obs)
            q_pi = self.critic(obs, proposed)
            own = proposed[: cfg.batch_size - n_demo]
            if n_demo and cfg.demo_bc > 0:
                bc = ((proposed[-n_demo:] - act[-n_demo:]) ** 2).mean()
                actor_loss = -q_pi.mean() / q_pi.abs().mean().detach().clamp_min(1e-6) + cfg.demo_bc * bc
                stats["bc"] = bc.item()
            else:
                actor_loss = -q_pi.mean()
            if cfg.actor_l2 > 0:
                actor_loss = actor_loss + cfg.actor_l2 * (own**2).mean()
            stats["delta"] = own.abs().mean().item()  # the correction's size where the actor acts
            self.actor_opt.zero_grad()
            actor_loss.backward()
            self.actor_opt.step()
            stats["actor_loss"] = actor_loss.item()
        with torch.no_grad():
            for net, target_net in ((self.critic, self.critic_target), (self.actor, self.actor_target)):
                for p, tp in zip(net.parameters(), target_net.parameters()):
                    tp.mul_(1 - cfg.tau).add_(p, alpha=cfg.tau)
        return stats

    # ------------------------------------------------------------------ checkpoints
    def save(self, target: Path, extra: dict) -> None:
        """Everything a resumed run needs, written to `target` (tensors, arrays and JSON only). The
        files go to a sibling folder first, which then replaces `target`: a run killed while
        saving leaves the previous checkpoint or this one whole (`checkpoint_folder` finds it)."""
        folder = target.with_name(target.name + ".new")
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        tensors = {f"{name}.{k}": v for name, net in self._nets().items() for k, v in net.state_dict().items()}
        tensors["torch_rng"] = self.torch_rng.get_state()
        torch.save(tensors, folder / "nets.pt")
        for name, opt in (("actor_opt", self.actor_opt), ("critic_opt", self.critic_opt)):
            torch.save(opt.state_dict(), folder / f"{name}.pt")
        np.savez(folder / "replay.npz", **self.replay.arrays("replay_"), **self.demos.arrays("demos_"))
        state = {
            "updates": self.updates,
            "rng": self.rng.bit_generator.state,
            "config": dataclasses.asdict(self.config),
            "windows": [[[o.tolist(), a.tolist(), r] for o, a, r in w.window] for w in self.windows],
            "log": self.log,
            **extra,
        }
        (folder / "state.json").write_text(json.dumps(state))  # last: it marks the folder complete
        if target.exists():
            shutil.rmtree(target)
        folder.rename(target)

    def load(self, folder: Path) -> dict:
        tensors = torch.load(folder / "nets.pt", weights_only=True)
        for name, net in self._nets().items():
            net.load_state_dict({k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith(name + ".")})
        self.torch_rng.set_state(tensors["torch_rng"])
        for name, opt in (("actor_opt", self.actor_opt), ("critic_opt", self.critic_opt)):
            opt.load_state_dict(torch.load(folder / f"{name}.pt", weights_only=True))
        with np.load(folder / "replay.npz", allow_pickle=False) as arrays:
            self.replay.restore(arrays, "replay_")
            capacity = int(arrays["demos_head"][2])
            self.demos = Replay(self.replay.obs.shape[1], self.act_dim, capacity)
            self.demos.restore(arrays, "demos_")
        state = json.loads((folder / "state.json").read_text())
        self.updates, self.log = int(state["updates"]), state["log"]
        self.rng.bit_generator.state = state["rng"]
        for window, pending in zip(self.windows, state["windows"]):
            window.window = [(np.asarray(o, np.float32), np.asarray(a, np.float32), float(r)) for o, a, r in pending]
        return state

    def _nets(self) -> dict[str, nn.Module]:
        return {
            "actor": self.actor,
            "critic": self.critic,
            "actor_target": self.actor_target,
            "critic_target": self.critic_target,
        }


def checkpoint_folder(target: Path) -> Path | None:
    """The complete checkpoint at `target`, or the one a run killed between deleting the old and
    renaming the new one left beside it; None when there is none."""
    for folder in (target, target.with_name(target.name + ".new")):
        if (folder / "state.json").is_file():
            return folder
    return None
