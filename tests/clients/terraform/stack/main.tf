# Everything ssm-contacts has in the AWS provider, with variables for what the second round
# changes (tests/clients/test_terraform_real.py writes terraform.tfvars.json).

variable "alice_display_name" {
  type    = string
  default = "Alice Example"
}

variable "escalation_tier" {
  type    = string
  default = "first"
}

variable "email_channel_name" {
  type    = string
  default = "alice-email"
}

variable "escalation_first_minutes" {
  type    = number
  default = 5
}

variable "daily_members" {
  type    = list(string)
  default = ["alice", "bob"]
}

variable "daily_start_time" {
  type    = string
  default = "2030-01-06T21:00:00Z"
}

variable "weekly_time_zone" {
  type    = string
  default = "America/Los_Angeles"
}

variable "weekly_start_time" {
  type    = string
  default = null
}

variable "monthly_members" {
  type    = list(string)
  default = ["alice"]
}

locals {
  people = {
    alice = aws_ssmcontacts_contact.alice.arn
    bob   = aws_ssmcontacts_contact.bob.arn
  }
}

resource "aws_ssmcontacts_contact" "alice" {
  alias        = "alice"
  type         = "PERSONAL"
  display_name = var.alice_display_name
  tags = {
    role = "primary"
  }
}

resource "aws_ssmcontacts_contact" "bob" {
  alias = "bob"
  type  = "PERSONAL"
}

resource "aws_ssmcontacts_contact" "dave" {
  alias        = "dave"
  type         = "PERSONAL"
  display_name = "Dave Example"
}

resource "aws_ssmcontacts_contact" "escalation" {
  alias        = "escalation"
  type         = "ESCALATION"
  display_name = "Escalation"
  tags = {
    tier = var.escalation_tier
  }
}

resource "aws_ssmcontacts_contact_channel" "alice_email" {
  contact_id = aws_ssmcontacts_contact.alice.arn
  name       = var.email_channel_name
  type       = "EMAIL"
  delivery_address {
    simple_address = "alice@example.com"
  }
}

resource "aws_ssmcontacts_contact_channel" "alice_sms" {
  contact_id = aws_ssmcontacts_contact.alice.arn
  name       = "alice-sms"
  type       = "SMS"
  delivery_address {
    simple_address = "+12065550100"
  }
}

resource "aws_ssmcontacts_contact_channel" "dave_sms" {
  contact_id = aws_ssmcontacts_contact.dave.arn
  name       = "dave-sms"
  type       = "SMS"
  delivery_address {
    simple_address = "+12065550111"
  }
}

resource "aws_ssmcontacts_plan" "alice" {
  contact_id = aws_ssmcontacts_contact.alice.arn
  stage {
    duration_in_minutes = 1
    target {
      channel_target_info {
        contact_channel_id        = aws_ssmcontacts_contact_channel.alice_email.arn
        retry_interval_in_minutes = 5
      }
    }
    target {
      channel_target_info {
        contact_channel_id = aws_ssmcontacts_contact_channel.alice_sms.arn
      }
    }
  }
}

resource "aws_ssmcontacts_plan" "escalation" {
  contact_id = aws_ssmcontacts_contact.escalation.arn
  stage {
    duration_in_minutes = var.escalation_first_minutes
    target {
      contact_target_info {
        is_essential = true
        contact_id   = aws_ssmcontacts_contact.alice.arn
      }
    }
  }
  stage {
    duration_in_minutes = 10
    target {
      contact_target_info {
        is_essential = false
        contact_id   = aws_ssmcontacts_contact.bob.arn
      }
    }
  }
}

# Provider 5.100.0 reads a coverage's start minute from its end (flattenShiftCoverages), on
# AWS as here: coverages whose start and end minutes differ always show drift.
resource "aws_ssmcontacts_rotation" "daily" {
  contact_ids = [for name in var.daily_members : local.people[name]]
  name        = "daily"
  recurrence {
    number_of_on_calls    = 1
    recurrence_multiplier = 1
    daily_settings {
      hour_of_day    = 9
      minute_of_hour = 0
    }
    shift_coverages {
      map_block_key = "MON"
      coverage_times {
        start {
          hour_of_day    = 9
          minute_of_hour = 0
        }
        end {
          hour_of_day    = 17
          minute_of_hour = 0
        }
      }
    }
    shift_coverages {
      map_block_key = "FRI"
      coverage_times {
        start {
          hour_of_day    = 8
          minute_of_hour = 30
        }
        end {
          hour_of_day    = 12
          minute_of_hour = 30
        }
      }
    }
  }
  # RFC 3339 in UTC: the provider writes what it reads in UTC, and 5.100.0 shows an offset
  # written otherwise as drift (on AWS too).
  start_time   = var.daily_start_time
  time_zone_id = "Australia/Sydney"
  tags = {
    kind = "daily"
  }
}

resource "aws_ssmcontacts_rotation" "weekly" {
  contact_ids = [aws_ssmcontacts_contact.bob.arn]
  name        = "weekly"
  recurrence {
    number_of_on_calls    = 1
    recurrence_multiplier = 1
    weekly_settings {
      day_of_week = "MON"
      hand_off_time {
        hour_of_day    = 4
        minute_of_hour = 0
      }
    }
    weekly_settings {
      day_of_week = "WED"
      hand_off_time {
        hour_of_day    = 7
        minute_of_hour = 30
      }
    }
  }
  start_time   = var.weekly_start_time
  time_zone_id = var.weekly_time_zone
}

resource "aws_ssmcontacts_rotation" "monthly" {
  contact_ids = [for name in var.monthly_members : local.people[name]]
  name        = "monthly"
  recurrence {
    number_of_on_calls    = 1
    recurrence_multiplier = 2
    monthly_settings {
      day_of_month = 20
      hand_off_time {
        hour_of_day    = 8
        minute_of_hour = 0
      }
    }
  }
  time_zone_id = "UTC"
}

data "aws_ssmcontacts_contact" "alice" {
  arn = aws_ssmcontacts_contact.alice.arn
}

data "aws_ssmcontacts_contact_channel" "alice_sms" {
  arn = aws_ssmcontacts_contact_channel.alice_sms.arn
}

data "aws_ssmcontacts_plan" "escalation" {
  contact_id = aws_ssmcontacts_plan.escalation.contact_id
}

data "aws_ssmcontacts_rotation" "daily" {
  arn = aws_ssmcontacts_rotation.daily.arn
}

output "contact" {
  value = {
    alias        = data.aws_ssmcontacts_contact.alice.alias
    type         = data.aws_ssmcontacts_contact.alice.type
    display_name = data.aws_ssmcontacts_contact.alice.display_name
    tags         = data.aws_ssmcontacts_contact.alice.tags
  }
}

output "channel" {
  value = {
    name             = data.aws_ssmcontacts_contact_channel.alice_sms.name
    type             = data.aws_ssmcontacts_contact_channel.alice_sms.type
    delivery_address = data.aws_ssmcontacts_contact_channel.alice_sms.delivery_address[0].simple_address
  }
}

output "plan" {
  value = [
    for stage in data.aws_ssmcontacts_plan.escalation.stage : {
      minutes  = stage.duration_in_minutes
      contacts = [for target in stage.target : target.contact_target_info[0].contact_id]
    }
  ]
}

output "rotation" {
  value = {
    name         = data.aws_ssmcontacts_rotation.daily.name
    contact_ids  = data.aws_ssmcontacts_rotation.daily.contact_ids
    start_time   = data.aws_ssmcontacts_rotation.daily.start_time
    time_zone_id = data.aws_ssmcontacts_rotation.daily.time_zone_id
    coverage_days = sort([
      for coverage in data.aws_ssmcontacts_rotation.daily.recurrence[0].shift_coverages :
      coverage.map_block_key
    ])
    tags = data.aws_ssmcontacts_rotation.daily.tags
  }
}

output "arns" {
  value = {
    alice      = aws_ssmcontacts_contact.alice.arn
    escalation = aws_ssmcontacts_contact.escalation.arn
    dave       = aws_ssmcontacts_contact.dave.arn
  }
}
