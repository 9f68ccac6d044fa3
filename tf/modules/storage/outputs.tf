output "volume_id" {
  description = "Cinder UUID of the data volume."
  value       = var.data_volume_name == null ? openstack_blockstorage_volume_v3.data[0].id : data.openstack_blockstorage_volume_v3.adopted[0].id
}

output "created" {
  description = "True when the volume was created (and is protected) here, false when adopted."
  value       = var.data_volume_name == null
}
