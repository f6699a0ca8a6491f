"""Alert tests; `WebhookReceiver` is a Slack-style webhook on 127.0.0.1 shared by both modules."""

from __future__ import annotations

from tests.http_receiver import JsonReceiver


class WebhookReceiver(JsonReceiver):
    """Records every JSON body POSTed to it (`payloads`) and answers `status`."""

    def __init__(self, status: int = 200) -> None:
        super().__init__(path="/services/T000/B000/secret", status=status)
