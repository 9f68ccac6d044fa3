# Credentials come from clouds.yaml (or OS_* variables), never from this module or its variables.
provider "openstack" {
  cloud  = var.cloud
  region = var.region
}
