"""DexBench environments: DexEnv and the registered DexMG/<Task>-<Embodiment>-D<k> ids."""
