# One port (fixed private IP) and one instance per node, keyed by hostname so adding a node leaves the others alone;
# the floating IP (SSH, API) and the data volume on the entry node.

locals {
  # Chameleon (Blazar) instance reservations: a lease's instances boot only with the flavor Blazar made for the
  # reservation, named reservation:<reservation id>; every role uses it (cloud.flavors names what was reserved).
  reserved_flavor = var.reservation_id == null ? null : "reservation:${var.reservation_id}"
  flavor_of = {
    control = coalesce(local.reserved_flavor, var.flavors.control)
    worker  = coalesce(local.reserved_flavor, var.flavors.worker)
    gpu     = local.reserved_flavor != null ? local.reserved_flavor : var.flavors.gpu
  }
  hosts = { for name, n in var.nodes : name => n.address }
  groups_of = {
    for name, n in var.nodes : name => compact([
      var.security_groups.cluster,
      n.role == "control" ? var.security_groups.api : "",
      name == var.entry_node ? var.security_groups.ssh : "",
      var.security_groups.http, # the load balancer reaches the gateway's NodePorts on every node
    ])
  }
}

data "openstack_images_image_v2" "this" {
  name        = var.image
  most_recent = true
}

data "openstack_compute_keypair_v2" "this" {
  name = var.key_pair
}

resource "openstack_networking_port_v2" "node" {
  for_each           = var.nodes
  name               = "${var.project_name}-${each.key}-${var.project_suffix}"
  network_id         = var.network_id
  admin_state_up     = true
  security_group_ids = local.groups_of[each.key]

  fixed_ip {
    subnet_id  = var.subnet_id
    ip_address = each.value.address
  }
}

resource "openstack_compute_instance_v2" "node" {
  for_each    = var.nodes
  name        = "${var.project_name}-${each.key}-${var.project_suffix}"
  image_id    = data.openstack_images_image_v2.this.id
  flavor_name = local.flavor_of[each.value.role]
  key_pair    = var.key_pair
  user_data = templatefile("${path.module}/templates/cloud-init.yaml.tftpl", {
    hostname = each.key
    hosts    = local.hosts
    ssh_user = var.ssh_user
    ssh_key  = trimspace(data.openstack_compute_keypair_v2.this.public_key)
  })
  metadata = {
    cxops_project = "${var.project_name}-${var.project_suffix}"
    cxops_role    = each.value.role
  }

  network {
    port = openstack_networking_port_v2.node[each.key].id
  }

  # Blazar's Nova filter places an instance of a reservation by the scheduler hint `reservation` as well.
  dynamic "scheduler_hints" {
    for_each = var.reservation_id == null ? [] : [var.reservation_id]
    content {
      additional_properties = {
        reservation = scheduler_hints.value
      }
    }
  }

  lifecycle {
    # user_data holds /etc/hosts of every node, and a newer image of the same name may appear: neither may
    # replace running nodes when a node is added or the image is refreshed (Kubespray keeps /etc/hosts current).
    ignore_changes = [user_data, image_id]
  }
}

resource "openstack_networking_floatingip_associate_v2" "entry" {
  floating_ip = var.floating_ip
  port_id     = openstack_networking_port_v2.node[var.entry_node].id
}

resource "openstack_compute_volume_attach_v2" "data" {
  instance_id = openstack_compute_instance_v2.node[var.entry_node].id
  volume_id   = var.data_volume_id
}
