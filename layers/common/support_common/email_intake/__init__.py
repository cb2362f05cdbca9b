"""The email_ingest function's package (functions/email_ingest): SES events -> tickets and comments.

`handler` holds the entry point and wiring; `flow` the decisions, in order; `inbound` the SES
record; `routing` which support address means which ticket type; `trust` who sent it and what
they may do; `threads` which ticket a reply names; `storage` the raw-mail bucket;
`acknowledgement` the automatic reply to a new ticket. `support_common.mail` parses the MIME.
"""
