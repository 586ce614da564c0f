"""Notifications when a run needs attention: a webhook (Slack, Teams) and email over SMTP.

settings   the [notify] table of lac-batch.toml, checked with key and line
message    what a message says: Slack mrkdwn, plain text, structured fields
targets    delivering it: webhook (httpx) and SMTP (smtplib)
state      problems already told, in the ledger (schema version 2)
notifier   deciding what is worth telling, once per change of state
"""

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []
