"""Hardware-in-the-loop: real devices executing their partitions (built by the HIL issue)."""
