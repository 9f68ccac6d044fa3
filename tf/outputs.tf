# `cxops infra inventory` reads these (terraform output -json) to write the Ansible inventory and ssh config.

output "nodes" {
  description = "Per node (keyed by hostname): instance name and id, fixed private address, role."
  value       = module.nodes.nodes
}

output "entry_node" {
  description = "Hostname of the node that carries the floating IP and the data volume (the SSH bastion)."
  value       = var.entry_node
}

output "floating_ip" {
  description = "Public address of the entry node: SSH bastion and Kubernetes API."
  value       = module.network.floating_ip_address
}

output "data_volume_id" {
  description = "Cinder UUID of the data volume; the guest sees it as /dev/disk/by-id/virtio-<first 20 chars>."
  value       = module.storage.volume_id
}

output "data_volume_created" {
  description = "True when this module created (and protects) the data volume, false when it adopted one."
  value       = module.storage.created
}

output "ssh_user" {
  description = "Login user of the nodes' image."
  value       = var.ssh_user
}

output "network_cidr" {
  description = "CIDR of the private network."
  value       = var.network_cidr
}

output "security_group_ids" {
  description = "Security group ids by purpose (cluster, ssh, api, http)."
  value       = module.network.security_group_ids
}

output "gateway_ip" {
  description = "Public address of the platform's HTTP(S) entry: the load balancer's floating IP (point DNS here)."
  value       = module.gateway.floating_ip_address
}

output "gateway_address" {
  description = "Private address of the load balancer; the nodes resolve the platform registry's name to it."
  value       = module.gateway.vip_address
}
