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

variable "network_id" {
  type        = string
  description = "Id of the private network (the VIP's port is made there)."
}

variable "subnet_id" {
  type        = string
  description = "Id of the private subnet: the VIP's and the members' subnet."
}

variable "vip_address" {
  type        = string
  description = "Fixed private address of the load balancer (outside the DHCP pool, not a node's address)."
  validation {
    condition     = can(cidrhost("${var.vip_address}/32", 0))
    error_message = "vip_address must be an IPv4 address."
  }
}

variable "nodes" {
  type        = map(string)
  description = "Every node's fixed private address by hostname: each one is a member of both pools."
  validation {
    condition     = length(var.nodes) > 0 && alltrue([for a in values(var.nodes) : can(cidrhost("${a}/32", 0))])
    error_message = "nodes must map at least one hostname to an IPv4 address."
  }
}

variable "node_ports" {
  type = object({
    http  = number
    https = number
  })
  description = "The gateway Service's NodePorts (kubernetes.gateway_node_port, gateway_tls_node_port)."
  validation {
    condition     = alltrue([for p in values(var.node_ports) : p >= 30000 && p <= 32767])
    error_message = "node_ports must lie from 30000 to 32767 (Kubernetes' NodePort range)."
  }
}

variable "http_allowed_cidrs" {
  type        = list(string)
  description = "Networks the listeners accept (Octavia's allowed_cidrs)."
  validation {
    condition     = length(var.http_allowed_cidrs) > 0 && alltrue([for c in var.http_allowed_cidrs : can(cidrhost(c, 0))])
    error_message = "http_allowed_cidrs must hold at least one CIDR (an empty list would let Octavia accept everyone)."
  }
}

variable "external_network" {
  type        = string
  description = "External network the load balancer's floating IP comes from."
  validation {
    condition     = length(var.external_network) > 0
    error_message = "external_network must name a network."
  }
}
