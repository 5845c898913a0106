"""`cli.py evaluate`: accuracy, rendered colour difference and consistency of a model or a predictions CSV
(run: the command; probes, breakdowns, report: its parts)."""
