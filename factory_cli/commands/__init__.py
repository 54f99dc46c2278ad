"""One module per subcommand. Each exposes `register(subparsers)`; heavy imports stay inside
the handler so that `factory-sim run` never loads asyncua and `--help` stays instant."""
