"""The command line: ``generate``, ``batch`` (jobs file, manifest), ``view``, ``download``."""
