# The platform's public entry: an Octavia load balancer whose TCP listeners 80/443 spread over every node's gateway
# NodePorts, a TCP health monitor per pool (only nodes where Envoy answers stay in rotation: the NodePort Service has
# externalTrafficPolicy Local, so a node without an Envoy pod refuses, audit K4), and its own floating IP. The pools
# speak PROXY protocol, so Envoy still sees each client's address (the registry's private-network rule, the rate
# limit). The VIP is a port made here with a fixed address: the nodes reach the registry at that address too.

locals {
  listeners = { http = 80, https = 443 }
}

resource "openstack_networking_port_v2" "vip" {
  name           = "${var.project_name}-gateway-vip-${var.project_suffix}"
  network_id     = var.network_id
  admin_state_up = true

  fixed_ip {
    subnet_id  = var.subnet_id
    ip_address = var.vip_address
  }
}

resource "openstack_lb_loadbalancer_v2" "this" {
  name        = "${var.project_name}-gateway-${var.project_suffix}"
  description = "public entry: 80/443 to the gateway's NodePorts on every node"
  vip_port_id = openstack_networking_port_v2.vip.id
}

resource "openstack_lb_listener_v2" "this" {
  for_each        = local.listeners
  name            = "${var.project_name}-gateway-${each.key}-${var.project_suffix}"
  protocol        = "TCP" # TLS ends at Envoy (cert-manager's certificates), not at the load balancer
  protocol_port   = each.value
  loadbalancer_id = openstack_lb_loadbalancer_v2.this.id
  allowed_cidrs   = var.http_allowed_cidrs
}

resource "openstack_lb_pool_v2" "this" {
  for_each    = local.listeners
  name        = "${var.project_name}-gateway-${each.key}-${var.project_suffix}"
  protocol    = "PROXY"
  lb_method   = "ROUND_ROBIN"
  listener_id = openstack_lb_listener_v2.this[each.key].id
}

resource "openstack_lb_members_v2" "this" {
  for_each = local.listeners
  pool_id  = openstack_lb_pool_v2.this[each.key].id

  dynamic "member" {
    for_each = var.nodes
    content {
      name          = member.key
      address       = member.value
      protocol_port = var.node_ports[each.key]
      subnet_id     = var.subnet_id
    }
  }
}

resource "openstack_lb_monitor_v2" "this" {
  for_each    = local.listeners
  name        = "${var.project_name}-gateway-${each.key}-${var.project_suffix}"
  pool_id     = openstack_lb_pool_v2.this[each.key].id
  type        = "TCP"
  delay       = 5
  timeout     = 3
  max_retries = 2
}

resource "openstack_networking_floatingip_v2" "this" {
  pool        = var.external_network
  description = "${var.project_name}-gateway-${var.project_suffix}"
}

resource "openstack_networking_floatingip_associate_v2" "this" {
  floating_ip = openstack_networking_floatingip_v2.this.address
  port_id     = openstack_networking_port_v2.vip.id
  depends_on  = [openstack_lb_loadbalancer_v2.this]
}
