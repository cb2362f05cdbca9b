"""The single DynamoDB table: the only package that knows key shapes and index attributes.

Items (pk / sk), one module each:
- `ticket_items` ticket    TICKET#<id> / TICKET, with its list-index attributes
                 comment   TICKET#<id> / COMMENT#<created_at>#<comment id>
                 note      TICKET#<id> / TICKET#NOTE#<created_at>#<comment id>  (internal)
  `comments`     writes comments and notes with what they change on the ticket
- `history`      entry     TICKET#<id> / HIST#<at>#<version>#<n>  (written with the change)
- `uploads`      upload    TICKET#<id> / FILE#<upload id>   (pending, with a TTL)
- `outbound`     mail      TICKET#<id> / OUT#reply#<comment id> | OUT#notice#<version>  (claimed once)
  `tickets`      reads and writes them (one Query a list page, transactions for links)
- `pages`        page      TICKET#<id> / PAGE#<level>   (one per escalation level, claimed once)
- `messages`     message   MSG#<Message-ID> / MSG        threads email replies to a ticket
                 marker    MAIL#<SES messageId> / MAIL   what an inbound message became
- `contacts`     contact   CONTACTS / <address or domain>
- `limits`       claim     RATE#<what>#<who> / RATE      with a TTL
- `idempotency`  record    IDEMPOTENCY#intake / <hash>   (Powertools' records, with a TTL)

`table` holds the codec, the one transaction helper (each item says what its failed condition
means) and the one batch retry policy.
"""
