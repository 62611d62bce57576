"""Shared code every component may import, like ``schemas``: it imports nothing of ours but
``schemas``, and knows no component. Pure logic (the command-line analyser) and the one way
to do a cross-cutting chore (retrying, declaring metrics)."""
