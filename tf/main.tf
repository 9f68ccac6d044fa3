# The cluster: a private network behind a router, one instance per node, a floating IP on the entry node (SSH, API)
# and a persistent data volume attached to it, and the public entry: an Octavia load balancer with a floating IP of its
# own in front of every node's gateway NodePorts (docs/provisioning.md, "The public entry"). `cxops infra render` writes cxops.auto.tfvars.json, so plain
# `terraform -chdir=tf init|plan|apply` needs no flags. `cxops infra destroy` keeps module.storage (the data).

module "network" {
  source = "./modules/network"

  project_name       = var.project_name
  project_suffix     = var.project_suffix
  network_cidr       = var.network_cidr
  dns_nameservers    = var.dns_nameservers
  external_network   = var.external_network
  floating_ip        = var.floating_ip
  ssh_allowed_cidrs  = distinct(concat(var.operator_cidrs, var.ssh_allowed_cidrs))
  api_allowed_cidrs  = distinct(concat(var.operator_cidrs, var.api_allowed_cidrs))
  gateway_node_ports = var.gateway_node_ports
}

module "storage" {
  source = "./modules/storage"

  project_name     = var.project_name
  project_suffix   = var.project_suffix
  data_volume_gb   = var.data_volume_gb
  data_volume_name = var.data_volume_name
}

module "nodes" {
  source = "./modules/nodes"

  project_name    = var.project_name
  project_suffix  = var.project_suffix
  image           = var.image
  flavors         = var.flavors
  key_pair        = var.key_pair
  ssh_user        = var.ssh_user
  nodes           = var.nodes
  entry_node      = var.entry_node
  reservation_id  = var.reservation_id
  network_id      = module.network.network_id
  subnet_id       = module.network.subnet_id
  security_groups = module.network.security_group_ids
  floating_ip     = module.network.floating_ip_address
  data_volume_id  = module.storage.volume_id
}

module "gateway" {
  source = "./modules/gateway"

  project_name       = var.project_name
  project_suffix     = var.project_suffix
  network_id         = module.network.network_id
  subnet_id          = module.network.subnet_id
  vip_address        = local.gateway_vip_address
  nodes              = { for name, n in var.nodes : name => n.address }
  node_ports         = var.gateway_node_ports
  http_allowed_cidrs = var.http_allowed_cidrs
  external_network   = var.external_network
}

locals {
  # below the nodes' usual .11+ and outside the DHCP pool (the subnet's upper half); variables.tf keeps nodes off it
  gateway_vip_address = cidrhost(var.network_cidr, 10)
}
