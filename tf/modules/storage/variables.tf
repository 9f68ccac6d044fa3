variable "project_name" {
  type        = string
  description = "First part of the volume's name."
  validation {
    condition     = length(var.project_name) > 0
    error_message = "project_name must not be empty."
  }
}

variable "project_suffix" {
  type        = string
  description = "Last part of the volume's name."
  validation {
    condition     = length(var.project_suffix) > 0
    error_message = "project_suffix must not be empty."
  }
}

variable "data_volume_gb" {
  type        = number
  description = "Size in GB of the volume created here (ignored when adopting)."
  validation {
    condition     = var.data_volume_gb >= 1 && floor(var.data_volume_gb) == var.data_volume_gb
    error_message = "data_volume_gb must be a whole number of at least 1."
  }
}

variable "data_volume_name" {
  type        = string
  description = "Name of an existing volume to adopt; null creates one."
  default     = null
}
