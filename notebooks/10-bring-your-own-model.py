# %% [markdown]
# # 10 · Bring your own model
#
# A model project is one Python class with three methods: `load_data`, `train`, `log_model` (docs/models.md).
# cxops does the rest: the MLflow run, lineage, cost, evaluation against the gates and production, registration,
# the build, serving (any MLflow model, three protocols) and the promotions.
#
# This notebook scaffolds a project, selects it in a configuration written by cxops (no hand edit), and runs it
# through train → evaluate → register → build in the embedded lab. The scaffold runs as generated on stand-in data
# (iris); then you fill in its three TODOs. Worked examples: `cxops/model/examples/sklearn_pipeline.py` (a
# scikit-learn pipeline with named columns) and `torch_cnn.py` (PyTorch, exported with `torch.export`).

# %%
from cxops.notebook import config_variant, run

# %% [markdown]
# ## 1. Scaffold a project
# Creates `my_model/project.py` beside cxops.yaml (where cxops imports it from, whichever folder this kernel runs
# in) and prints the `model:` lines that select it. `--exist-ok` keeps a project already there, with your edits, so
# the notebook runs again.

# %%
run("init-model my_model --exist-ok")

# %% [markdown]
# ## 2. Select it
# `config_variant` writes `my-model.yaml` beside cxops.yaml: the same configuration with the `model:` section
# replaced (a registered model name of its own, the scaffold's class, its stand-in data and parameters), checked
# before it is returned. For good, put the printed `model:` lines in cxops.yaml instead.

# %%
config = config_variant(
    "my-model.yaml",
    model={
        "name": "my-model",
        "project": "my_model.project:Project",
        "dataset": {"name": "iris"},
        "params": {"max_iter": 500},
    },
)
run(f"-c {config} config check")

# %% [markdown]
# ## 3. Train, evaluate, register and build it
# The gates are the same as for any model: the evaluation thresholds in `gates.evaluation`. `--until build` stops
# before staging, so the lab's environments keep serving the configured model; drop it to take your model all the
# way to production.

# %%
run("lab up", quiet=True)
run(f"-c {config} pipeline run --until build", ok=(0, 3, 4))

# %%
run(f"-c {config} models list")
