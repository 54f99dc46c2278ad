"""factory-sim: a simulated smart-factory shop floor."""
