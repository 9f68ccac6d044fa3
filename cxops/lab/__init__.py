"""The embedded services of one-machine mode: MLflow, the GitOps remote, one server per environment."""
