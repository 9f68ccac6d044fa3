"""The pipeline: steps as functions with typed results, and ONE ordered definition of how they connect."""
