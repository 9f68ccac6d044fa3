output "network_id" {
  description = "Id of the private network."
  value       = openstack_networking_network_v2.this.id
}

output "subnet_id" {
  description = "Id of the private subnet (available once the router interface exists, so ports can get floating IPs)."
  value       = openstack_networking_subnet_v2.this.id
  depends_on  = [openstack_networking_router_interface_v2.this]
}

output "security_group_ids" {
  description = "Security group ids by purpose: cluster, ssh, api, http."
  value = {
    cluster = openstack_networking_secgroup_v2.cluster.id
    ssh     = openstack_networking_secgroup_v2.ssh.id
    api     = openstack_networking_secgroup_v2.api.id
    http    = openstack_networking_secgroup_v2.http.id
  }
}

output "floating_ip_id" {
  description = "Id of the floating IP (new or adopted)."
  value       = var.floating_ip == null ? openstack_networking_floatingip_v2.new[0].id : data.openstack_networking_floatingip_v2.existing[0].id
  depends_on  = [openstack_networking_router_interface_v2.this]
}

output "floating_ip_address" {
  description = "Public address of the floating IP (new or adopted)."
  value       = var.floating_ip == null ? openstack_networking_floatingip_v2.new[0].address : data.openstack_networking_floatingip_v2.existing[0].address
  depends_on  = [openstack_networking_router_interface_v2.this]
}
