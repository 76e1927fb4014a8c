"""The 30 simulated agencies: a deterministic synthetic population and its agency configs."""
