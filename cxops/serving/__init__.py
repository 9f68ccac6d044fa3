"""The model server. Self-contained (no config, no mlflow import) so it ships alone in the serving image."""
