"""Diffusion Policy (Chi et al., RSS 2023) on state observations, torch only: a 1-D temporal U-Net
(`model.py`), its training (`train.py`) and the evaluated policy (`policy.py`)."""

PREDICTIONS = ("sample", "epsilon")  # what the network outputs: the clean actions (x0), or the noise
