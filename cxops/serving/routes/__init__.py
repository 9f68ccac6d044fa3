"""The model server's routes, one module per protocol over the data plane (cxops.serving.dataplane), as KServe's
server has one module of endpoints per protocol: `cxops_api` (/predict, /explain), `mlflow_scoring` (/invocations,
/ping), `open_inference` (Open Inference Protocol v2), and `operations` (health, version, metrics). Each has
`add_routes(app, plane)`, so a server can be built with any one of them (cxops.serving.app builds it with all)."""
