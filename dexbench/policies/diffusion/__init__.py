"""Diffusion Policy (Chi et al., RSS 2023) on state observations, torch only: a 1-D temporal U-Net
(`model.py`), its training (`train.py`) and the evaluated policy (`policy.py`)."""
