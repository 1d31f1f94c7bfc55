terraform {
  required_version = ">= 1.6.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.82.2"
    }
  }

  # No backend here on purpose: state never lives in the repository. Point a
  # backend at your own encrypted, locked store, e.g.
  #   terraform init -backend-config=backend.hcl
  # with an S3 bucket and use_lockfile = true.
}
