# %% [markdown]
# # 08 · GPU capacity and an ephemeral GPU training job
#
# Which flavors have GPUs free right now, and a job on a fresh server of such a flavor that is always deleted
# afterwards (docs/openstack.md). Needs notebook 01's credentials. `training.flavor` in cxops.yaml is the flavor
# training uses; its hourly rate in `costs:` prices each run (notebook 09).

# %%
from cxops.notebook import run

# %% [markdown]
# ## 1. GPU capacity per flavor
# Total and available GPUs per GPU flavor, from host aggregates (`gpu_count`, `gpu_type`) or Placement (VGPU).
# Measuring it reads every project's servers, so it needs a clouds.yaml entry with admin-level read (the admin or
# reader-on-system role; your cloud's operators have one): start Jupyter with `CXOPS_GPU_CLOUD=<that entry>`. With
# a member credential only, this cell says exactly that. An operator can serve the same numbers read-only over HTTP
# with `cxops cloud gpus serve`.

# %%
run("cloud gpus")

# %% [markdown]
# ## 2. An ephemeral job on the training flavor
# `job run` refuses up front when the flavor has no GPU free (`--gpu` names the GPU type it must provide), boots a
# server, runs the command, collects the JSON it writes to `$CXOPS_RESULT` from the console, and deletes the server.
# Here the command is a short Python check; any command or `--script FILE` works the same way.

# %%
run(
    "job run gpu-check --gpu V100 --deadline 300 -- python3 -c "
    '\'import json, os; json.dump({"host": os.uname().nodename}, open(os.environ["CXOPS_RESULT"], "w"))\''
)

# %%
run("job list")
run("job logs gpu-check")

# %% [markdown]
# ## 3. Training on an ephemeral GPU server
# With `training.runner: openstack-instance`, `cxops step train` (and the pipeline's train step) runs the training
# on such a server: capacity checked first, the run logged to the same MLflow, the server always deleted. The
# image must provide cxops (the tools image does) and reach MLflow. **Needs a real cloud image with cxops**, so not
# run in the tests (the test cloud's sandbox has Python but not cxops); the job above exercises the same path.

# %% tags=["needs-cloud"]
run("step train")
