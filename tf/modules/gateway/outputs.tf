output "floating_ip_address" {
  description = "Public address of the platform's HTTP(S) entry (the load balancer's floating IP)."
  value       = openstack_networking_floatingip_v2.this.address
}

output "vip_address" {
  description = "Private address of the load balancer: the nodes reach the platform registry here."
  value       = openstack_networking_port_v2.vip.all_fixed_ips[0]
}

output "load_balancer_id" {
  description = "Id of the Octavia load balancer."
  value       = openstack_lb_loadbalancer_v2.this.id
}
