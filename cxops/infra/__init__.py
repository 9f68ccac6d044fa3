"""Provisioning: preflight checks before Terraform."""
