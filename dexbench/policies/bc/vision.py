"""The pixel BC baseline's image encoder: a small convolutional net per camera with spatial-softmax
keypoints, and robomimic's crop augmentation (a random crop per sample in training, the centre
crop when acting).

Why this net and not robomimic's default (a ResNet-18 trunk): the baseline trains on CPU. On a
76 px crop a ResNet-18 trunk costs about 0.2 G multiply-adds per image, so a batch of 128 takes
seconds per gradient step on one core; these three convolutions of 32 channels cost 0.008 G (25
times less: 0.14 s per step of 128 on one core, docs/evaluation.md). Spatial softmax (Levine et
al. 2016, robomimic's pooling) keeps what manipulation needs from the feature maps, where things
are, as 2 coordinates per keypoint. robomimic's own modules are not used because they import
torchvision, which the `bc` extra does not install; these follow its definitions
(`SpatialSoftmax`, `CropRandomizer`).
"""

from __future__ import annotations

import torch
from torch import nn

CROP_FRACTION = 0.9  # crop side / image side: robomimic's 76 px of 84
MIN_IMAGE_SIZE = 19  # px: smaller images leave nothing after the three convolutions


def crop_size(image_size: int) -> int:
    """The side of the crop the encoder sees for images of `image_size` px (84 -> 76)."""
    return max(1, round(CROP_FRACTION * image_size))


def random_crop(images: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """(B, H, W, C) -> (B, size, size, C): each sample its own crop, drawn from `generator`."""
    batch, height, width = images.shape[:3]
    top = torch.randint(height - size + 1, (batch,), generator=generator)
    left = torch.randint(width - size + 1, (batch,), generator=generator)
    rows = (top[:, None] + torch.arange(size))[:, :, None].to(images.device)  # (B, size, 1)
    cols = (left[:, None] + torch.arange(size))[:, None, :].to(images.device)  # (B, 1, size)
    return images[torch.arange(batch, device=images.device)[:, None, None], rows, cols]


def center_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """(B, H, W, C) -> (B, size, size, C), the middle of each image."""
    top, left = (images.shape[1] - size) // 2, (images.shape[2] - size) // 2
    return images[:, top : top + size, left : left + size]


class SpatialSoftmax(nn.Module):
    """(B, C, H, W) feature maps -> (B, 2 K): the expected image position (x, y in [-1, 1]) of
    each of K keypoint maps (a 1x1 convolution makes them), with a learned temperature."""

    def __init__(self, channels: int, height: int, width: int, keypoints: int) -> None:
        super().__init__()
        self.to_keypoints = nn.Conv2d(channels, keypoints, kernel_size=1)
        self.log_temperature = nn.Parameter(torch.zeros(()))
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
        self.register_buffer("grid", torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1))  # (H W, 2)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        maps = self.to_keypoints(features).flatten(2)  # (B, K, H W)
        weights = torch.softmax(maps / self.log_temperature.exp(), dim=-1)
        return (weights @ self.grid).flatten(1)  # (B, K, 2) -> (B, 2 K)


class ConvEncoder(nn.Module):
    """One camera's (B, 3, S, S) image in [0, 1] -> (B, 2 keypoints) features."""

    def __init__(self, size: int, channels: int = 32, keypoints: int = 32) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(3, channels, kernel_size=5, stride=2),
            nn.ReLU(),
            nn.Conv2d(channels, channels, kernel_size=3, stride=2),
            nn.ReLU(),
            nn.Conv2d(channels, channels, kernel_size=3, stride=1),
            nn.ReLU(),
        )
        side = size
        for layer in self.conv:
            if isinstance(layer, nn.Conv2d):
                side = (side - layer.kernel_size[0]) // layer.stride[0] + 1
                if side < 1:
                    raise ValueError(
                        f"a {size} px crop is too small for the pixel encoder; render images of "
                        f"{MIN_IMAGE_SIZE} px or more (84 is the papers' size)"
                    )
        self.pool = SpatialSoftmax(channels, side, side, keypoints)
        self.out_dim = 2 * keypoints

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.pool(self.conv(images))


class ImageEncoder(nn.Module):
    """Every camera's uint8 image -> one feature vector: (B, cameras, H, W, 3) -> (B, out_dim).
    With `generator` each sample gets a random crop (training); without, the centre crop."""

    def __init__(self, cameras: int, image_size: int, channels: int = 32, keypoints: int = 32) -> None:
        super().__init__()
        self.crop = crop_size(image_size)
        self.per_camera = nn.ModuleList(ConvEncoder(self.crop, channels, keypoints) for _ in range(cameras))
        self.out_dim = cameras * 2 * keypoints

    def forward(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        features = []
        for k, encoder in enumerate(self.per_camera):
            view = images[:, k]
            view = random_crop(view, self.crop, generator) if generator is not None else center_crop(view, self.crop)
            features.append(encoder(view.permute(0, 3, 1, 2).float() / 255.0))  # uint8 HWC -> [0, 1] CHW
        return torch.cat(features, dim=1)
