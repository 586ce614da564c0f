"""Where notifications go: a webhook (HTTP POST of JSON) and email over SMTP.

Each target's :meth:`deliver` either returns (delivered) or raises :class:`DeliveryError` with a
one-line reason that names the target by host only (a webhook URL's path is its secret) and
never holds a password. Every delivery gives up after :data:`DELIVERY_TIMEOUT_S` seconds.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol

import httpx

from lac_batch.model.errors import DeliveryError, UsageError
from lac_batch.notify.message import Message
from lac_batch.notify.settings import (
    DELIVERY_TIMEOUT_S,
    EmailSettings,
    NotifySettings,
    Security,
    WebhookSettings,
)
from lac_batch.sending.api import USER_AGENT, tls_context
from lac_batch.sending.credentials import check_private_file

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

_ANSWER_CHARS = 200


class Target(Protocol):
    @property
    def name(self) -> str: ...

    def deliver(self, message: Message) -> None: ...


class WebhookTarget:
    """POST the message's JSON document; any 2xx answer means delivered."""

    def __init__(self, settings: WebhookSettings, ca_bundle: Path | None = None) -> None:
        self.settings = settings
        self._ca_bundle = ca_bundle

    @property
    def name(self) -> str:
        return f"webhook {self.settings.host}"

    def deliver(self, message: Message) -> None:
        document = message.webhook_document(self.settings.format)
        try:
            with httpx.Client(
                timeout=DELIVERY_TIMEOUT_S,
                verify=tls_context(self._ca_bundle),
                follow_redirects=False,
                headers={"User-Agent": USER_AGENT},
            ) as client:
                response = client.post(self.settings.url, json=document)
        except (httpx.HTTPError, ssl.SSLError, OSError) as error:
            reason = str(error).replace(self.settings.url, self.settings.host) or "no answer"
            raise DeliveryError(f"{self.name}: {type(error).__name__}: {reason}") from None
        if not response.is_success:
            answer = " ".join(response.text.split())[:_ANSWER_CHARS]
            raise DeliveryError(
                f"{self.name}: answered {response.status_code} {response.reason_phrase}"
                + (f": {answer}" if answer else "")
            )


class EmailTarget:
    """Send the plain-text message over SMTP (STARTTLS, TLS, or plain to this machine)."""

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings

    @property
    def name(self) -> str:
        return f"email to {', '.join(self.settings.recipients)} via {self.settings.host}"

    def _password(self) -> str:
        settings = self.settings
        if settings.password_env is not None:
            password = os.environ.get(settings.password_env, "")
            if not password:
                raise DeliveryError(
                    f"{self.name}: the environment variable {settings.password_env} (the SMTP "
                    "password) is not set."
                )
            return password
        assert settings.password_file is not None
        try:
            check_private_file(settings.password_file)
            password = settings.password_file.read_text(encoding="utf-8-sig").strip()
        except UsageError as error:
            raise DeliveryError(f"{self.name}: SMTP password file: {error}") from None
        except OSError as error:
            raise DeliveryError(
                f"{self.name}: the SMTP password file {settings.password_file} cannot be read "
                f"({error.strerror or error})."
            ) from None
        if not password:
            raise DeliveryError(f"{self.name}: the SMTP password file is empty.")
        return password

    def _email(self, message: Message) -> EmailMessage:
        email = EmailMessage()
        email["Subject"] = message.subject
        email["From"] = self.settings.sender
        email["To"] = ", ".join(self.settings.recipients)
        email["Date"] = formatdate(localtime=True)
        email["Message-ID"] = make_msgid(domain=self.settings.sender.rpartition("@")[2] or None)
        email.set_content(message.plain)
        return email

    def deliver(self, message: Message) -> None:
        settings = self.settings
        password = self._password() if settings.user is not None else None
        email = self._email(message)
        context = tls_context(None)
        try:
            smtp: smtplib.SMTP
            if settings.security is Security.TLS:
                smtp = smtplib.SMTP_SSL(
                    settings.host, settings.port, timeout=DELIVERY_TIMEOUT_S, context=context
                )
            else:
                smtp = smtplib.SMTP(settings.host, settings.port, timeout=DELIVERY_TIMEOUT_S)
            with smtp:
                if settings.security is Security.STARTTLS:
                    smtp.starttls(context=context)
                if settings.user is not None and password is not None:
                    smtp.login(settings.user, password)
                refused = smtp.send_message(email)
        except (smtplib.SMTPException, OSError) as error:
            reason = str(error) or type(error).__name__
            if password:
                reason = reason.replace(password, "[password]")
            raise DeliveryError(
                f"{self.name} ({settings.host}:{settings.port}): {type(error).__name__}: {reason}"
            ) from None
        if refused:
            raise DeliveryError(f"{self.name}: the server refused {', '.join(sorted(refused))}")


def targets_of(settings: NotifySettings, ca_bundle: Path | None = None) -> list[Target]:
    targets: list[Target] = []
    if settings.webhook is not None:
        targets.append(WebhookTarget(settings.webhook, ca_bundle))
    if settings.email is not None:
        targets.append(EmailTarget(settings.email))
    return targets
