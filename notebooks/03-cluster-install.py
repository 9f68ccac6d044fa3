# %% [markdown]
# # 03 · Install the cluster: Kubernetes (Kubespray), ArgoCD, the GitOps bootstrap
#
# Ansible over SSH through the bastion (notebook 02's inventory): prepare the nodes, Kubespray installs Kubernetes,
# then the bootstrap installs ArgoCD and points it at the GitOps repository, which brings up the platform
# (notebook 04). Every stage is idempotent; a second run reports no changes (docs/cluster.md).

# %%
from cxops.notebook import run

# %% [markdown]
# ## 1. The inventory is current
# The install reads the inventory notebook 02 wrote; `--check` fails when Terraform's outputs changed since.

# %%
run("infra inventory --check")

# %% [markdown]
# ## 2. What the bootstrap will sync
# The app-of-apps and the platform's values, rendered from cxops.yaml; `--check` fails with a diff when stale. Name
# your GitOps repository first (`workflows.gitops_remote` in cxops.yaml, then `cxops k8s render`, commit and push:
# docs/cluster.md steps 4-5): until then the tree names a placeholder and the check says so.

# %%
run("k8s render --check")
run("k8s charts")

# %% [markdown]
# ## 3. Install
# prepare → kubernetes → bootstrap, with a progress line per task and a per-host summary; about 20 to 30 minutes.
# A failure names the host, the task and the log file (docs/troubleshooting.md). **Needs the machines of
# notebook 02 on a real cloud** (Kubespray needs systemd on real hosts), so it is not run in the tests.

# %% tags=["needs-cluster"]
run("cluster install")

# %% [markdown]
# ## 4. The kubeconfig
# Fetched through the bastion and written 0600 (never printed), with the SSH tunnel command to open before using
# `kubectl`. **Needs the installed cluster.**

# %% tags=["needs-cluster"]
run("cluster kubeconfig")
