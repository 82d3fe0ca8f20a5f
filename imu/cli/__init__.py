"""The `pelvis-monitor` command line: one module per subcommand."""
