# %% [markdown]
# # 04 · The platform: where each UI is, and logging in without printing a secret
#
# The cluster install (notebook 03) bootstraps ArgoCD, which syncs the platform from git: MLflow, Argo Workflows,
# Prometheus, Grafana, the Gateway and the model environments (docs/platform.md). Nothing is exposed publicly: each
# UI is reached through a `kubectl port-forward` over the SSH tunnel that `cxops cluster kubeconfig` printed.

# %%
from cxops.notebook import run

# %% [markdown]
# ## 1. What the platform installs, pinned
# Each upstream chart with its exact version; what ArgoCD syncs is rendered from cxops.yaml and drift-checked.

# %%
run("k8s charts")
run("k8s render --check")

# %% [markdown]
# ## 2. Where each UI is
# In-cluster URL, the port-forward that reaches it from this machine, the local URL to open, and how to log in.
# No secret is printed: the login column names the Secret that holds it.

# %%
run("cluster urls")

# %% [markdown]
# ## 3. Logging in
# `cxops cluster credentials SERVICE` (argocd, mlflow, grafana, s3, postgres) shows one service's login, and only
# to a terminal: here, where the output would be saved in the notebook, it refuses and names the `kubectl` line to
# use instead. Run it in a shell: `cxops cluster credentials argocd`.
# **Needs a running cluster** (it reads the Secret through the kubeconfig of notebook 03), so it is not run in the
# tests.

# %% tags=["needs-cluster"]
run("cluster credentials argocd")
