"""The `aep-ais` command line: parser, commands, output and the demo (see `aep_ais.cli`)."""
