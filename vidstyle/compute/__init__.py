"""How the work runs on this machine: the torch device and arithmetic, the thread budget."""
