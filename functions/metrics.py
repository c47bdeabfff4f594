"""The functions' metric names: the contract with the CDK app's alarms and dashboard.

Powertools Metrics writes them in EMF under namespace `Inlet` with one dimension,
`service` = the function's service name below (tests/infra holds the two together).
"""

from typing import Final

from inlet.webhook import delivery as webhook

NAMESPACE: Final = "Inlet"

PARSE_SERVICE: Final = "parse"
INDEX_SERVICE: Final = "index"
RETENTION_SERVICE: Final = "retention"
# The same service and names as `inlet up`'s deliverer writes: one dashboard reads both.
WEBHOOK_SERVICE: Final = webhook.SERVICE

EVENTS_RECEIVED: Final = "EventsReceived"  # parse, index
MESSAGES_PARSED: Final = "MessagesParsed"  # parse
MESSAGES_QUARANTINED: Final = "MessagesQuarantined"  # parse
MESSAGES_INDEXED: Final = "MessagesIndexed"  # index
EVENTS_PUBLISHED: Final = "EventsPublished"  # index: events the bus accepted
EVENTS_FAILED: Final = "EventsFailed"  # index: puts given up on (the record is retried)
MESSAGES_EXPIRED: Final = "MessagesExpired"  # retention
MESSAGES_HELD: Final = "MessagesHeld"  # retention
RETENTION_FAILURES: Final = "RetentionFailures"  # retention
WEBHOOKS_DELIVERED: Final = webhook.WEBHOOKS_DELIVERED  # webhook
WEBHOOK_RETRIES: Final = webhook.WEBHOOK_RETRIES  # webhook: failed attempts to be retried
WEBHOOKS_FAILED: Final = webhook.WEBHOOKS_FAILED  # webhook: given up on (to the DLQ)

EMITTED: Final[dict[str, tuple[str, ...]]] = {
    PARSE_SERVICE: (EVENTS_RECEIVED, MESSAGES_PARSED, MESSAGES_QUARANTINED),
    INDEX_SERVICE: (EVENTS_RECEIVED, MESSAGES_INDEXED, EVENTS_PUBLISHED, EVENTS_FAILED),
    RETENTION_SERVICE: (MESSAGES_EXPIRED, MESSAGES_HELD, RETENTION_FAILURES),
    WEBHOOK_SERVICE: (EVENTS_RECEIVED, WEBHOOKS_DELIVERED, WEBHOOK_RETRIES, WEBHOOKS_FAILED),
}
