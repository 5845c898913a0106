"""Application layer: the code that runs each command (ARCHITECTURE.md). Imports the stages; no stage imports it."""
