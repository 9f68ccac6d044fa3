# %% [markdown]
# # 11 · Teardown: destroy, then check that nothing is left
#
# Destroys everything notebook 02 created except the data volume (`prevent_destroy`; the next apply reattaches the
# same data), then checks the project for leftovers: servers, ephemeral jobs.

# %%
from cxops.notebook import run

# %% [markdown]
# ## 1. Destroy
# Instances, ports, network, security groups, the floating IP. Asks for confirmation unless `--yes`.

# %%
run("infra destroy --yes")

# %% [markdown]
# ## 2. Leak check
# No server should be left (a job's server is deleted when it ends; `cxops job cleanup NAME` deletes a kept one),
# and no job should still be running.

# %%
run("cloud servers")
run("job list")

# %% [markdown]
# ## 3. The embedded lab
# If you ran notebook 00 on this machine, stop its services (by PID) when you no longer need them; with none
# running it says so and does nothing.

# %%
run("lab down")
