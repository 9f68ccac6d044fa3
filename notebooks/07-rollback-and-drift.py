# %% [markdown]
# # 07 · Rollback and drift
#
# Three views of each environment must agree: the registry alias, git's overlay (the desired version) and what the
# server reports live. `cxops status` shows all three; `--check` exits 1 when they disagree. A rollback moves all
# three back together. Runs against the embedded lab (notebook 00) or, with `MLFLOW_TRACKING_URI` and the cluster's
# GitOps remote in cxops.yaml, against the cluster.

# %%
from cxops.notebook import alias_version, run

# %% [markdown]
# ## 1. Where we are

# %%
run("lab up")
run("status")

# %% [markdown]
# ## 2. A second version through the whole chain
# A rollback needs a previous production version: this run trains one and promotes it if every gate passes
# (exit 3/4: a gate said no, and production keeps what it had).

# %%
run("pipeline run", ok=(0, 3, 4))
print("production:", alias_version("production"), "· previous:", alias_version("production-previous"))

# %% [markdown]
# ## 3. Roll production back
# Restores `production-previous` in the registry and in git (one commit with the reason), waits until the server
# serves it, clears `production-previous` (a second rollback says "no previous version" instead of flip-flopping)
# and tags the rolled-back version `cxops.rolled_back.production`.

# %%
run("rollback production --reason 'walkthrough: back to the previous version'")
run("status --check")

# %% [markdown]
# ## 4. Drift: when the three views disagree
# Someone pushed to the GitOps branch (a promotion by `git push`, checked by the same rules at the remote), a server
# crashed, or MLflow was down while an alias moved. `status --check` names the environment and what disagrees;
# `cxops reconcile` moves each alias to what live serves of git's version (the registry follows git).

# %%
run("reconcile")
state = run("status --json", quiet=True).json()
state
