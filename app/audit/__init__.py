"""`cli.py audit`: neighbour grids and label anomalies as an HTML page (run: the command; grids, page: its
parts)."""
