"""Truncated variational EM: the states K_n and the training loop."""
