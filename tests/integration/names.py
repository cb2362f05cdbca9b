"""Names the integration tests share: the region and the table."""

REGION = "eu-west-1"
TABLE = "tickets"
