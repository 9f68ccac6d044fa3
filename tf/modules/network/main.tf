# Private network, subnet, router to the external network, the security groups the cluster needs and the floating
# IP: nothing here is assumed to exist except the external network (and an existing floating IP when named).

locals {
  # Upper half of the subnet is the DHCP pool; nodes take fixed addresses between the gateway and the pool.
  dhcp_half = cidrsubnet(var.network_cidr, 1, 1)
  # the load balancer's amphorae sit in the private subnet: they (and only they, besides the cluster group) reach
  # the gateway's NodePorts; who may reach the load balancer itself is its listeners' allowed_cidrs
  node_port_rules = { for key, port in var.gateway_node_ports : key => port }
}

data "openstack_networking_network_v2" "external" {
  name     = var.external_network
  external = true
}

resource "openstack_networking_network_v2" "this" {
  name           = "${var.project_name}-net-${var.project_suffix}"
  admin_state_up = true
}

resource "openstack_networking_subnet_v2" "this" {
  name        = "${var.project_name}-subnet-${var.project_suffix}"
  network_id  = openstack_networking_network_v2.this.id
  cidr        = var.network_cidr
  ip_version  = 4
  gateway_ip  = cidrhost(var.network_cidr, 1)
  enable_dhcp = true
  # Chameleon tells users to set resolvers on subnets they create (networks_vlan docs): apt, pulls, CoreDNS need them.
  dns_nameservers = var.dns_nameservers

  allocation_pool {
    start = cidrhost(local.dhcp_half, 0)
    end   = cidrhost(local.dhcp_half, -2)
  }
}

resource "openstack_networking_router_v2" "this" {
  name                = "${var.project_name}-router-${var.project_suffix}"
  admin_state_up      = true
  external_network_id = data.openstack_networking_network_v2.external.id
}

resource "openstack_networking_router_interface_v2" "this" {
  router_id = openstack_networking_router_v2.this.id
  subnet_id = openstack_networking_subnet_v2.this.id
}

# --- security groups: default egress rules are kept; every ingress is listed here ---

resource "openstack_networking_secgroup_v2" "cluster" {
  name        = "${var.project_name}-cluster-${var.project_suffix}"
  description = "Any traffic between the cluster's nodes (etcd, kubelet, CNI, NodePorts, SSH through the bastion)."
}

resource "openstack_networking_secgroup_rule_v2" "cluster_internal" {
  direction         = "ingress"
  ethertype         = "IPv4"
  remote_group_id   = openstack_networking_secgroup_v2.cluster.id
  security_group_id = openstack_networking_secgroup_v2.cluster.id
  description       = "from the other nodes"
}

resource "openstack_networking_secgroup_v2" "ssh" {
  name        = "${var.project_name}-ssh-${var.project_suffix}"
  description = "SSH to the bastion (entry node) from ssh_allowed_cidrs."
}

resource "openstack_networking_secgroup_rule_v2" "ssh" {
  for_each          = toset(var.ssh_allowed_cidrs)
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = "tcp"
  port_range_min    = 22
  port_range_max    = 22
  remote_ip_prefix  = each.value
  security_group_id = openstack_networking_secgroup_v2.ssh.id
  description       = "ssh"
}

resource "openstack_networking_secgroup_v2" "api" {
  name        = "${var.project_name}-api-${var.project_suffix}"
  description = "Kubernetes API (6443) on the control nodes from api_allowed_cidrs."
}

resource "openstack_networking_secgroup_rule_v2" "api" {
  for_each          = toset(var.api_allowed_cidrs)
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = "tcp"
  port_range_min    = 6443
  port_range_max    = 6443
  remote_ip_prefix  = each.value
  security_group_id = openstack_networking_secgroup_v2.api.id
  description       = "kube-apiserver"
}

resource "openstack_networking_secgroup_v2" "http" {
  name        = "${var.project_name}-http-${var.project_suffix}"
  description = "The gateway's NodePorts on every node from the private subnet (the load balancer's members' side)."
}

resource "openstack_networking_secgroup_rule_v2" "http" {
  for_each          = local.node_port_rules
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = "tcp"
  port_range_min    = each.value
  port_range_max    = each.value
  remote_ip_prefix  = var.network_cidr
  security_group_id = openstack_networking_secgroup_v2.http.id
  description       = "gateway NodePort (${each.key}) from the load balancer"
}

# --- the floating IP: a new one, or an existing address adopted (never released by destroy) ---

resource "openstack_networking_floatingip_v2" "new" {
  count       = var.floating_ip == null ? 1 : 0
  pool        = var.external_network
  description = "${var.project_name}-entry-${var.project_suffix}"
}

data "openstack_networking_floatingip_v2" "existing" {
  count   = var.floating_ip == null ? 0 : 1
  address = var.floating_ip
}
