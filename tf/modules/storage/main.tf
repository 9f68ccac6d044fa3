# The persistent data volume: created here and protected from destroy, or an existing one adopted by name (a data
# source: Terraform never deletes what it only reads). `cxops infra destroy` leaves this module alone.

resource "openstack_blockstorage_volume_v3" "data" {
  count       = var.data_volume_name == null ? 1 : 0
  name        = "${var.project_name}-data-${var.project_suffix}"
  size        = var.data_volume_gb
  description = "Persistent platform data (MLflow, object store); survives `cxops infra destroy`."

  lifecycle {
    prevent_destroy = true
  }
}

data "openstack_blockstorage_volume_v3" "adopted" {
  count = var.data_volume_name == null ? 0 : 1
  name  = var.data_volume_name
}
