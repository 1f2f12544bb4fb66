"""The reference behaviour-cloning baseline (torch, state observations): data, networks,
training and the evaluated policy."""
