# %% [markdown]
# # 00 · The embedded lab: from clone to a production model on this machine
#
# Everything runs on 127.0.0.1: a real MLflow server, a bare git repository as the GitOps remote (with the
# `pre-receive` hook that refuses unsafe promotions), one model server per environment that follows git, and one
# public endpoint that splits traffic between production and canary.
#
# Before this notebook: `make setup` (creates `.venv`) and `scripts/install-lab-deps` (nginx), then open this notebook
# in JupyterLab or VS Code with the venv's Python as the kernel (README, "Notebooks", says how to register it), or run
# it headless from the repository root: `.venv/bin/jupyter execute notebooks/00-embedded-lab.ipynb`. Every cell runs a
# `cxops` command, exactly what you would type in a shell; like every command, it finds the project's `cxops.yaml` in
# its folder or a parent (the kernel runs in notebooks/), or uses the file named by `$CXOPS_CONFIG`.

# %%
from cxops.notebook import alias_version, run, show_evidence

# %% [markdown]
# ## 1. Check the configuration
# One file configures everything; an error names its line and key path.

# %%
run("config check")

# %% [markdown]
# ## 2. Start the embedded services
# Idempotent: services already running are left alone. `lab status` shows each URL, PID and health.

# %%
run("lab up")
run("lab status")

# %% [markdown]
# ## 3. The pipeline, as one definition
# The same steps run here (one process per step) and in Argo Workflows (one pod per template).

# %%
run("pipeline show")

# %% [markdown]
# ## 4. Train → evaluate → register → build → staging → canary → production
# Each gate prints its result. Exit code 3 means a gate said no (the reason is printed, production keeps the
# version it had) and 4 that a gate had too little evidence; both are answers, not crashes, so this cell accepts
# them. The first run on a fresh machine takes a minute or two.

# %%
result = run("pipeline run", ok=(0, 3, 4))

# %% [markdown]
# ## 5. Where each environment stands
# Registry alias, git's desired version and what each server reports live; `--check` exits 1 on any disagreement.

# %%
run("status --check")
run("models list")

# %% [markdown]
# ## 6. The evidence behind the production version
# Each gate's verdict and checks, and its plots: the confusion matrix of the held-out split (evaluation), the
# latency distribution of the load test (staging) and the class shares of canary vs production (canary).

# %%
version = alias_version("production")
print("production serves version", version)
show_evidence(version)

# %%
run(f"models show {version}")

# %% [markdown]
# ## 7. What next
# Run the pipeline again (cell 4) to train a new version: it either reaches production or stops at a gate with the
# reason, while production keeps serving. Notebook 07 rolls back; 09 prices each run; 10 brings your own model.
# The services keep running after this notebook: `cxops lab down` in a shell stops them (by PID).
