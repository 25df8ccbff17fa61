"""How a run executes: memory bounds, ranks (MPI), signals and checkpoints."""
