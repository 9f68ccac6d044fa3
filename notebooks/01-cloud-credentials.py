# %% [markdown]
# # 01 · Cloud credentials: application credential → clouds.yaml → ping → preflight
#
# cxops talks to OpenStack (Chameleon or any other) with an **application credential**: scoped to one project,
# revocable, no password stored anywhere.
#
# 1. In the cloud's web UI (Chameleon: Identity → Application Credentials → Create Application Credential), give it
#    a name (`cxops`) and create it. On the next page choose **Download clouds.yaml**: the file is complete, nothing
#    to fill in. With the CLI: `openstack application credential create cxops`.
# 2. Save the file as `~/.config/openstack/clouds.yaml` (or `clouds.yaml` in the repository root, which git ignores;
#    or anywhere, with `$OS_CLIENT_CONFIG_FILE` naming it). Its secret is shown once by the cloud and never by cxops.
# 3. The entry's name (Horizon calls it `openstack`) is the cloud cxops uses when it equals `cloud.name` in
#    cxops.yaml; otherwise start Jupyter with `OS_CLOUD=<entry>` set, or pass `--cloud <entry>` to each command.

# %%
from cxops.notebook import run

# %% [markdown]
# ## 1. Authenticate
# Shows the project, your roles and the services in the catalog; an error says whether the cloud is unreachable,
# the credential was refused, or the entry is missing from clouds.yaml.

# %%
run("cloud ping")

# %% [markdown]
# ## 2. What the project can use
# Images, flavors (with their GPU extra specs), networks (`external` ones are floating IP pools) and quotas.

# %%
run("cloud images")
run("cloud flavors")
run("cloud networks")
run("cloud quotas")

# %% [markdown]
# ## 3. Preflight: does the plan in cxops.yaml fit this cloud?
# Image, flavors, key pair, external network and the quota headroom for every node, volume and floating IP; each
# failed check names what exists instead. Exit 1 if anything does not fit: fix cxops.yaml's `cloud:` section and
# run it again before notebook 02.

# %%
run("infra preflight")
