"""The Sparkplug B output: the journal published as a Sparkplug B edge node (README.md)."""
