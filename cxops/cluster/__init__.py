"""Cluster install: Ansible + Kubespray on the provisioned machines, then the GitOps bootstrap (docs/cluster.md).

`layout` (where ansible/ and its stages are), `inventory` (the generated hosts.yaml and ssh_config, and the
group_vars file cxops writes from cxops.yaml), `preflight` (bad input caught before Ansible starts), `runner`
(ansible-playbook with progress and a per-host summary), `kubeconfig` and `urls` (after the install).
"""
