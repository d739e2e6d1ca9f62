# The stack's contact "alice" alone, imported by ARN into a state of its own.
variable "display_name" {
  type = string
}

resource "aws_ssmcontacts_contact" "alice" {
  alias        = "alice"
  type         = "PERSONAL"
  display_name = var.display_name
  tags = {
    role = "primary"
  }
}
