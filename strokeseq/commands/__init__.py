"""Subcommands of the ``strokeseq`` command, one module each."""
