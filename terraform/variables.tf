variable "region" {
  description = "AWS region of the cluster."
  type        = string
  default     = "eu-west-1"
}

variable "cluster_name" {
  description = "Name of the EKS cluster (also the prefix of its VPC and roles)."
  type        = string
  default     = "churn"
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version."
  type        = string
  default     = "1.31"
}

variable "vpc_cidr" {
  description = "CIDR block of the cluster's VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "availability_zone_ids" {
  description = "Availability zone IDs the VPC spans (a private and a public subnet in each), e.g. euw1-az1. They must belong to var.region; IDs name the same physical zone in every account, unlike zone names."
  type        = list(string)
  default     = ["euw1-az1", "euw1-az2"]

  validation {
    condition     = length(var.availability_zone_ids) >= 2 && length(var.availability_zone_ids) <= 3
    error_message = "EKS needs subnets in at least two availability zones; three is the most this layout uses."
  }
}

variable "node_instance_types" {
  description = "Instance types of the managed node group. The pipeline stages want about 2 vCPU and 6 GiB at 100,000 users."
  type        = list(string)
  default     = ["m6i.large"]
}

variable "node_min_size" {
  description = "Smallest size of the managed node group."
  type        = number
  default     = 1
}

variable "node_max_size" {
  description = "Largest size of the managed node group."
  type        = number
  default     = 3
}

variable "node_desired_size" {
  description = "Initial size of the managed node group."
  type        = number
  default     = 1
}

variable "endpoint_public_access_cidrs" {
  description = "CIDR blocks allowed to reach the Kubernetes API from the internet. Empty (the default) keeps the endpoint private: reach it from inside the VPC (VPN, bastion, CI runner)."
  type        = list(string)
  default     = []
}

variable "log_retention_days" {
  description = "Days the control-plane and VPC flow logs are kept."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default = {
    project = "churn"
  }
}
