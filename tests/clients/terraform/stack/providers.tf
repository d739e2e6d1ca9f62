# The provider block of README's "With Terraform" section, with default_tags added.
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }
}

variable "endpoint" {
  type = string
}

variable "account" {
  type = string
}

provider "aws" {
  region                      = "us-east-1"
  access_key                  = var.account
  secret_key                  = "unused"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  endpoints {
    ssmcontacts = var.endpoint
  }
  default_tags {
    tags = {
      team = "operations"
    }
  }
}
