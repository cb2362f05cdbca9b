"""The notify function (functions/notify): mail to requesters from the table's stream.

`events` (which stream records become mail: public staff replies and status notices), `message`
(the MIME of each, and who may never be mailed), `sender` (once-only sending through SES), `handler`.
"""
