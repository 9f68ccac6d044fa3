# %% [markdown]
# # 09 · Cost per training run
#
# Each training run records its duration and its cost: duration times the hourly rate of the training flavor, from
# `costs:` in cxops.yaml (rates and currency; set them to your cloud's or allocation's prices). The cost is the
# `train_cost` metric of the MLflow run, so it sits beside the accuracy of the model it paid for.

# %%
from cxops.notebook import run, run_costs

# %% [markdown]
# ## 1. The rates in effect

# %%
run("config show --json", quiet=True).json()["costs"]

# %% [markdown]
# ## 2. One more training run
# `cxops step train` prints the run id, its duration and its cost.

# %%
run("lab up", quiet=True)
run("step train")

# %% [markdown]
# ## 3. Every run, priced
# A table of every training run of the experiment (newest first) and a bar chart of the cost per run.

# %%
rows = run_costs(plot=True)
