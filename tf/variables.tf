# Every value comes from cxops.yaml through `cxops infra render` (cxops.auto.tfvars.json); the defaults here are
# only for values cxops.yaml may leave unset. Secrets never go through variables: the provider reads clouds.yaml.

variable "project_name" {
  type        = string
  description = "project.name: first part of every resource name."
  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$", var.project_name))
    error_message = "project_name must be a DNS label: lowercase letters, digits and '-', at most 32 characters."
  }
}

variable "project_suffix" {
  type        = string
  description = "project.suffix: last part of every resource name, so several users can share one OpenStack project."
  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$", var.project_suffix))
    error_message = "project_suffix must be a DNS label: lowercase letters, digits and '-', at most 32 characters."
  }
}

variable "cloud" {
  type        = string
  description = "Entry of clouds.yaml the provider authenticates with (cloud.name)."
  validation {
    condition     = length(var.cloud) > 0
    error_message = "cloud must name an entry of clouds.yaml."
  }
}

variable "region" {
  type        = string
  description = "Region within the cloud; null uses the clouds.yaml entry's region."
  default     = null
  validation {
    condition     = var.region == null || try(length(var.region) > 0, false)
    error_message = "region must be null or a region name."
  }
}

variable "image" {
  type        = string
  description = "Glance image name of every node (cloud.image)."
  validation {
    condition     = length(var.image) > 0
    error_message = "image must name a Glance image."
  }
}

variable "flavors" {
  type = object({
    control = string
    worker  = string
    gpu     = optional(string)
  })
  description = "Nova flavor per node role; gpu is required when a node has role gpu."
  validation {
    condition     = length(var.flavors.control) > 0 && length(var.flavors.worker) > 0
    error_message = "flavors.control and flavors.worker must name flavors."
  }
}

variable "key_pair" {
  type        = string
  description = "Nova key pair installed for the image's user on every node."
  validation {
    condition     = length(var.key_pair) > 0
    error_message = "key_pair must name an existing Nova key pair."
  }
}

variable "ssh_user" {
  type        = string
  description = "Login user of the image (Chameleon's images: cc); the key pair's key is authorised for it."
  validation {
    condition     = can(regex("^[a-z_][a-z0-9_-]{0,31}$", var.ssh_user))
    error_message = "ssh_user must be a Linux user name."
  }
}

variable "external_network" {
  type        = string
  description = "External (floating IP) network the router's gateway is on."
  validation {
    condition     = length(var.external_network) > 0
    error_message = "external_network must name a network."
  }
}

variable "network_cidr" {
  type        = string
  description = "IPv4 CIDR of the private network; first host = gateway, upper half = DHCP pool, nodes in between."
  validation {
    condition = (
      can(cidrhost(var.network_cidr, 0)) && can(regex("^[0-9.]+/[0-9]+$", var.network_cidr))
      && try(tonumber(split("/", var.network_cidr)[1]) >= 16 && tonumber(split("/", var.network_cidr)[1]) <= 28, false)
    )
    error_message = "network_cidr must be an IPv4 network from /16 to /28, e.g. the default."
  }
}

variable "dns_nameservers" {
  type        = list(string)
  description = "DNS resolvers the private subnet hands to the nodes (cloud.dns_nameservers); empty = Neutron's own."
  validation {
    condition     = length(var.dns_nameservers) <= 5 && alltrue([for a in var.dns_nameservers : can(regex("^[0-9.]+$", a)) && can(cidrhost("${a}/32", 0))])
    error_message = "dns_nameservers must hold at most 5 IPv4 addresses."
  }
}

variable "nodes" {
  type = map(object({
    address = string
    role    = string
  }))
  description = "Nodes keyed by hostname: fixed private address and role (control, worker or gpu)."
  validation {
    condition     = length(var.nodes) > 0 && anytrue([for n in values(var.nodes) : n.role == "control"])
    error_message = "nodes needs at least one node with role control."
  }
  validation {
    condition     = alltrue([for k, n in var.nodes : can(regex("^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$", k))])
    error_message = "Every node name must be a DNS label (it becomes the hostname)."
  }
  validation {
    condition     = alltrue([for n in values(var.nodes) : contains(["control", "worker", "gpu"], n.role)])
    error_message = "Every node role must be control, worker or gpu."
  }
  validation {
    condition     = length(distinct([for n in values(var.nodes) : n.address])) == length(var.nodes)
    error_message = "Every node needs its own address."
  }
  validation {
    # Inside the subnet, after the gateway and below the DHCP pool (the subnet's upper half).
    condition = alltrue([for n in values(var.nodes) : contains(
      [for i in range(2, pow(2, 32 - tonumber(split("/", var.network_cidr)[1])) / 2) : cidrhost(var.network_cidr, i)],
      n.address
    )])
    error_message = "Every node address must lie in network_cidr after the gateway (first host) and below the DHCP pool (upper half)."
  }
  validation {
    condition     = alltrue([for n in values(var.nodes) : n.address != cidrhost(var.network_cidr, 10)])
    error_message = "No node may use the subnet's tenth host address: the public entry's load balancer has it."
  }
  validation {
    condition     = var.flavors.gpu != null || alltrue([for n in values(var.nodes) : n.role != "gpu"])
    error_message = "A node has role gpu but flavors.gpu is null."
  }
}

variable "entry_node" {
  type        = string
  description = "The first control node: carries the floating IP (SSH bastion, API) and the data volume."
  validation {
    condition     = try(var.nodes[var.entry_node].role == "control", false)
    error_message = "entry_node must be the name of a node with role control."
  }
}

variable "reservation_id" {
  type        = string
  description = "Chameleon (Blazar) reservation UUID (cloud.lease: its reservation_id, or the lease cxops created): every node boots with the reserved flavor reservation:<id> and the scheduler hint `reservation`; null = none."
  default     = null
  validation {
    condition     = var.reservation_id == null || can(regex("^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$", var.reservation_id))
    error_message = "reservation_id must be a UUID (the reservation's id, not the lease's name)."
  }
}

variable "floating_ip" {
  type        = string
  description = "Existing floating IP address to use; null allocates a new one from external_network."
  default     = null
  validation {
    condition     = var.floating_ip == null || can(cidrhost("${var.floating_ip}/32", 0))
    error_message = "floating_ip must be an IPv4 address."
  }
}

variable "data_volume_gb" {
  type        = number
  description = "Size in GB of the data volume created here (ignored when an existing one is adopted)."
  validation {
    condition     = var.data_volume_gb >= 1 && var.data_volume_gb <= 10000 && floor(var.data_volume_gb) == var.data_volume_gb
    error_message = "data_volume_gb must be a whole number from 1 to 10000."
  }
}

variable "data_volume_name" {
  type        = string
  description = "Name of an existing Cinder volume to adopt as the data volume; null creates a protected one."
  default     = null
  validation {
    condition     = var.data_volume_name == null || try(length(var.data_volume_name) > 0, false)
    error_message = "data_volume_name must be null or a volume name."
  }
}

variable "ssh_allowed_cidrs" {
  type        = list(string)
  description = "Networks besides operator_cidrs allowed to SSH to the entry node (key-only logins); never the whole internet."
  validation {
    condition     = alltrue([for c in var.ssh_allowed_cidrs : can(regex("^[0-9.]+/[0-9]+$", c)) && can(cidrhost(c, 0)) && cidrsubnet(c, 0, 0) == c && !endswith(c, "/0")])
    error_message = "ssh_allowed_cidrs must hold IPv4 networks in CIDR form with no host bits set, and not 0.0.0.0/0."
  }
}

variable "operator_cidrs" {
  type        = list(string)
  description = "The operator's own address as a /32 (written by cxops infra plan|apply into operator.auto.tfvars.json); SSH and the Kubernetes API are open to it."
  default     = []
  validation {
    condition     = alltrue([for c in var.operator_cidrs : can(regex("^[0-9.]+/32$", c)) && can(cidrhost(c, 0))])
    error_message = "operator_cidrs must hold single IPv4 hosts in /32 form."
  }
}

variable "api_allowed_cidrs" {
  type        = list(string)
  description = "Networks besides operator_cidrs allowed to reach the Kubernetes API (6443) directly; never the whole internet."
  validation {
    condition     = alltrue([for c in var.api_allowed_cidrs : can(regex("^[0-9.]+/[0-9]+$", c)) && can(cidrhost(c, 0)) && cidrsubnet(c, 0, 0) == c && !endswith(c, "/0")])
    error_message = "api_allowed_cidrs must hold IPv4 networks in CIDR form with no host bits set, and not 0.0.0.0/0."
  }
}

variable "http_allowed_cidrs" {
  type        = list(string)
  description = "Networks allowed to reach the platform's HTTP(S) entry (80, 443): the load balancer's listeners' allowed_cidrs."
  validation {
    condition     = alltrue([for c in var.http_allowed_cidrs : can(regex("^[0-9.]+/[0-9]+$", c)) && can(cidrhost(c, 0)) && cidrsubnet(c, 0, 0) == c])
    error_message = "http_allowed_cidrs must hold IPv4 networks in CIDR form with no host bits set."
  }
}

variable "gateway_node_ports" {
  type = object({
    http  = number
    https = number
  })
  description = "NodePorts of the gateway's Envoy Service (kubernetes.gateway_node_port, gateway_tls_node_port): the load balancer's members."
  validation {
    condition     = alltrue([for p in values(var.gateway_node_ports) : p >= 30000 && p <= 32767]) && var.gateway_node_ports.http != var.gateway_node_ports.https
    error_message = "gateway_node_ports must be two different ports from 30000 to 32767."
  }
}
