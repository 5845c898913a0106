"""The ground floor: rules every stage shares (white balance, canonical render, metrics, splits) and plumbing
(errors, artifacts, locks, progress, parallel). Imports nothing of the project."""
