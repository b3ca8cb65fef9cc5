"""Files on disk: crash-safe writes, and keeping outputs away from inputs."""
