# %% [markdown]
# # 06 · The model lifecycle in the cluster
#
# train → evaluate → register → build → staging → canary → production, now as Argo Workflows: the same `cxops step`
# commands as in the lab (notebook 00), each in a pod; ArgoCD deploys what git says; the registry is the platform's
# MLflow. Promotion is a git commit: cxops makes it, or a person pushes it and the same rules check it.

# %%
from cxops.notebook import run

# %% [markdown]
# ## 1. The chain the workflows run
# Steps, arguments, outputs, the Argo template each belongs to, timeouts and retries.

# %%
run("pipeline show")

# %% [markdown]
# ## 2. Run it
# One workflow carries a version from training to production (`chain=true`); each gate's verdict is a tag on the
# MLflow version, and a failed gate rolls the registry, git and traffic back together. **Needs a running cluster.**

# %% tags=["needs-cluster"]
run("workflows submit train-model --param chain=true")

# %% [markdown]
# ## 3. Promotion by `git push`
# A push to the GitOps branch is a promotion, checked where it lands: the rules `cxops gitops verify OLD NEW`
# applies (the version is registered and built, the image is its build's, it passed the entry gate, no canary
# weight without a canary). The cluster's `gitops-guard` workflow reverts a bad push with a commit that says why;
# a self-hosted git server can refuse it up front with this hook:

# %%
run("gitops hook")

# %% [markdown]
# ## 4. Where each environment stands
# Registry alias · git · live per environment, with `MLFLOW_TRACKING_URI` pointing at the platform's MLflow (through
# notebook 04's port-forward). **Needs a running cluster.**

# %% tags=["needs-cluster"]
run("status --check")
