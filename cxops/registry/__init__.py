"""MLflow: where runs, model versions, aliases and lineage live."""
