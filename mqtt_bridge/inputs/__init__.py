"""Where the bridge's data comes from: one folder per input (`opcua/`)."""
