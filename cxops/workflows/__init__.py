"""The cluster executor: Argo WorkflowTemplates derived from cxops.pipeline.definition, authored with Hera.

Modules: `chain` (pure: pipeline → stage segments and their parameters), `tools` / `builder` (container templates),
`templates` (the WorkflowTemplates and the CronWorkflow), `render` (YAML files + drift check), `argo` (Argo Server
API), `argocd` (bounded sync wait), `outcome` (what the exit handler records).
"""
