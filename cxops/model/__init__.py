"""The model project: the interface a model implements, and the bundled digits example."""
