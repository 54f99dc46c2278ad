"""The OPC UA face of the simulated plant (asyncua server)."""
