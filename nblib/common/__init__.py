"""Small helpers every layer may use (the bottom of the house): nothing here imports the rest of nblib."""
