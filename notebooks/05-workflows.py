# %% [markdown]
# # 05 · Workflows: render, apply, submit, watch
#
# The Argo WorkflowTemplates are derived from the one pipeline definition (`cxops/pipeline/definition.py`) and
# cxops.yaml; ArgoCD applies them from git like everything else (docs/workflows.md).

# %%
from cxops.notebook import run

# %% [markdown]
# ## 1. Render and check
# `workflows render` writes `workflows/*.yaml`; `--check` fails (with a diff) when the committed files are stale.

# %%
run("workflows render")
run("workflows render --check")
run("workflows list")

# %% [markdown]
# ## 2. Apply
# Commit and push `workflows/` to the GitOps branch: ArgoCD's `workflows` Application syncs it into the cluster.
# There is no separate apply step, so there is nothing to run here.
#
# ## 3. Submit and watch
# `workflows submit` goes through the Argo Server API with the token in `$ARGO_TOKEN` (never printed). **Needs a
# running cluster** with Argo Workflows reachable (notebook 04's port-forward), so not run in the tests.

# %% tags=["needs-cluster"]
run("workflows submit train-model --param chain=true")

# %% [markdown]
# Watch it in the Argo UI (the URL from `cxops cluster urls`): Workflows → the new `train-model-…` workflow; each
# step's logs and outputs are there, and with `chain=true` it goes on to build, staging, canary and production.
#
# ## 4. The Argo UI form
# Workflow Templates → `train-model` → Submit shows a form whose fields, descriptions and allowed values come from
# the pipeline definition (the same help as `cxops step … --help`), so a person can start any step without YAML.

# %%
run("pipeline show")
