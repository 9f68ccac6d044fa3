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

variable "image" {
  type        = string
  description = "Glance image name (the most recent image of that name is used)."
  validation {
    condition     = length(var.image) > 0
    error_message = "image must name an image."
  }
}

variable "flavors" {
  type = object({
    control = string
    worker  = string
    gpu     = optional(string)
  })
  description = "Flavor per role; gpu nodes use flavors.gpu."
  validation {
    condition     = length(var.flavors.control) > 0 && length(var.flavors.worker) > 0
    error_message = "flavors.control and flavors.worker must name flavors."
  }
}

variable "key_pair" {
  type        = string
  description = "Nova key pair for the image's user."
  validation {
    condition     = length(var.key_pair) > 0
    error_message = "key_pair must name a key pair."
  }
}

variable "ssh_user" {
  type        = string
  description = "Image user whose authorized_keys get the key pair's public key (cloud-init)."
  validation {
    condition     = length(var.ssh_user) > 0
    error_message = "ssh_user must not be empty."
  }
}

variable "nodes" {
  type = map(object({
    address = string
    role    = string
  }))
  description = "Nodes keyed by hostname: fixed address and role."
  validation {
    condition     = alltrue([for n in values(var.nodes) : contains(["control", "worker", "gpu"], n.role)])
    error_message = "Every role must be control, worker or gpu."
  }
}

variable "entry_node" {
  type        = string
  description = "Node that gets the floating IP, the ssh/api/http security groups and the data volume."
  validation {
    condition     = contains(keys(var.nodes), var.entry_node)
    error_message = "entry_node must be one of the nodes."
  }
}

variable "reservation_id" {
  type        = string
  description = "Blazar reservation UUID: every node gets flavor reservation:<id> and the `reservation` scheduler hint; null = none."
  default     = null
}

variable "network_id" {
  type        = string
  description = "Private network id."
}

variable "subnet_id" {
  type        = string
  description = "Private subnet id."
}

variable "security_groups" {
  type = object({
    cluster = string
    ssh     = string
    api     = string
    http    = string
  })
  description = "Security group ids by purpose."
}

variable "floating_ip" {
  type        = string
  description = "Floating IP address to associate with the entry node's port."
}

variable "data_volume_id" {
  type        = string
  description = "Cinder volume to attach to the entry node."
}
