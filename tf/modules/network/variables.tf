variable "project_name" {
  type        = string
  description = "First part of every resource name."
  validation {
    condition     = length(var.project_name) > 0
    error_message = "project_name must not be empty."
  }
}

variable "project_suffix" {
  type        = string
  description = "Last part of every resource name."
  validation {
    condition     = length(var.project_suffix) > 0
    error_message = "project_suffix must not be empty."
  }
}

variable "network_cidr" {
  type        = string
  description = "IPv4 CIDR of the private subnet; first host = gateway, upper half = DHCP pool."
  validation {
    condition     = can(cidrsubnet(var.network_cidr, 1, 1))
    error_message = "network_cidr must be an IPv4 CIDR that can be split in two."
  }
}

variable "dns_nameservers" {
  type        = list(string)
  description = "DNS resolvers of the subnet (DHCP hands them to the nodes); empty = Neutron's own."
  validation {
    condition     = alltrue([for a in var.dns_nameservers : can(cidrhost("${a}/32", 0))])
    error_message = "dns_nameservers must hold IPv4 addresses."
  }
}

variable "external_network" {
  type        = string
  description = "Name of the external network for the router gateway and the floating IP."
  validation {
    condition     = length(var.external_network) > 0
    error_message = "external_network must name a network."
  }
}

variable "floating_ip" {
  type        = string
  description = "Existing floating IP address to use; null allocates a new one."
  default     = null
}

variable "ssh_allowed_cidrs" {
  type        = list(string)
  description = "Networks allowed to reach SSH (22) on the entry node."
  validation {
    condition     = alltrue([for c in var.ssh_allowed_cidrs : can(cidrhost(c, 0)) && !endswith(c, "/0")])
    error_message = "ssh_allowed_cidrs must hold CIDRs, and not the whole internet."
  }
}

variable "api_allowed_cidrs" {
  type        = list(string)
  description = "Networks allowed to reach the Kubernetes API (6443)."
  validation {
    condition     = alltrue([for c in var.api_allowed_cidrs : can(cidrhost(c, 0)) && !endswith(c, "/0")])
    error_message = "api_allowed_cidrs must hold CIDRs, and not the whole internet."
  }
}

variable "gateway_node_ports" {
  type = object({
    http  = number
    https = number
  })
  description = "The gateway Service's NodePorts, opened on every node to the private subnet (the load balancer)."
  validation {
    condition     = alltrue([for p in values(var.gateway_node_ports) : p >= 30000 && p <= 32767])
    error_message = "gateway_node_ports must lie from 30000 to 32767 (Kubernetes' NodePort range)."
  }
}
