"""Notifications when a run needs attention: a webhook (Slack, Teams) and email over SMTP.

settings   the [notify] table of lac-batch.toml, checked with key and line
message    what a message says: Slack mrkdwn, plain text, structured fields
targets    delivering it: webhook (httpx) and SMTP (smtplib)
state      problems already told, in the ledger (schema version 2)
notifier   deciding what is worth telling, once per change of state
"""

from __future__ import annotations

from lac_batch.notify.message import Message, compose_test
from lac_batch.notify.notifier import Notifier, deliver_all
from lac_batch.notify.settings import (
    NotifySettings,
    Trigger,
    load_notify_settings,
)
from lac_batch.notify.state import ProblemKind, ProblemStore
from lac_batch.notify.targets import targets_of

__all__ = [
    "Message",
    "Notifier",
    "NotifySettings",
    "ProblemKind",
    "ProblemStore",
    "Trigger",
    "compose_test",
    "deliver_all",
    "load_notify_settings",
    "targets_of",
]
