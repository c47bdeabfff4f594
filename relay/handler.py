"""aiosmtpd handler hooks: the relay's policy at the envelope commands."""

import logging
from typing import Any

from relay.config import RelayConfig
from relay.metrics import RelayMetrics
from relay.policy import recipient_refusal
from relay.replies import REFUSE_LOCAL_ERROR, code

log = logging.getLogger(__name__)


class RelayHandler:
    def __init__(self, config: RelayConfig, metrics: RelayMetrics) -> None:
        self.config = config
        self.metrics = metrics

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        # AUTH is offered on the submission port only (after STARTTLS: aiosmtpd lists it only
        # then); PIPELINING is (RFC 2920). ENHANCEDSTATUSCODES is not: RFC 2034 would then
        # require a code on every reply, and aiosmtpd's own replies ("250 OK", "503 Error:
        # ...") carry none.
        kept = [r for r in responses[:-1] if server.submission or not r.startswith("250-AUTH")]
        return [*kept, "250-PIPELINING", responses[-1]]

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        refusal = recipient_refusal(
            address,
            self.config.domains,
            len(envelope.rcpt_tos),
            self.config.max_recipients,
        )
        if refusal is not None:
            self.metrics.reply(code(refusal))
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_PROXY(self, server: Any, session: Any, envelope: Any, proxy_data: Any) -> bool:
        # aiosmtpd has already parsed and validated the header; keep it on the session.
        return bool(proxy_data)

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd's default reply is a 500 with the exception's text: a permanent code for
        # what is our fault, and a look inside. Logged with its traceback, never the content.
        log.error("session error: %s", type(error).__name__, exc_info=error)
        self.metrics.reply(code(REFUSE_LOCAL_ERROR))
        return REFUSE_LOCAL_ERROR
