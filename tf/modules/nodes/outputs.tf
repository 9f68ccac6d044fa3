output "nodes" {
  description = "Per hostname: instance name, instance id, fixed private address and role."
  value = {
    for name, n in var.nodes : name => {
      instance = openstack_compute_instance_v2.node[name].name
      id       = openstack_compute_instance_v2.node[name].id
      address  = openstack_networking_port_v2.node[name].all_fixed_ips[0]
      role     = n.role
    }
  }
}

output "data_volume_device" {
  description = "Device the data volume was attached as (as Nova reports it; find it in the guest by id instead)."
  value       = openstack_compute_volume_attach_v2.data.device
}
