"""Everything the support desk's functions share, and one package per deployed function.

| function folder           | package                    | reads and writes |
| ------------------------- | -------------------------- | ---------------- |
| `functions/intake`        | `support_common.api`       | tickets, comments, contacts, idempotency records, rate limits (PagerDuty event ids); the ack key and PagerDuty's webhook secret (read) |
| `functions/email_ingest`  | `support_common.email_intake` | the raw-mail bucket; tickets, comments, mail markers, message ids, rate limits; SES (acknowledgements); the ack key (read) |
| `functions/escalate`      | `support_common.paging`    | tickets (read), page and notice records; SNS (pages, stand-downs, alarms), EventBridge Scheduler (re-pages); the ack key (read) |
| `functions/notify`        | `support_common.notify`    | tickets (read), outbound mail claims, message ids, mail rate limits; SES (replies, notices) |

The core: `models` (domain), `errors` (domain errors, no HTTP), `tickets` and `contacts` (the use
cases, where every who-may-do-what rule is stated once), `attachments` (a ticket's files), `settings` (per-function environment),
`observability` (logger, tracer, metrics, the handler recipe), `aws_errors` (reading AWS errors),
`oncall` (acknowledging from a page's credential), `pagelinks` (signed ack links, reply codes),
`secret_store` (Secrets Manager values, cached).
`repository/` is the only package that knows key shapes; `mail/` is a pure MIME parser.
"""
