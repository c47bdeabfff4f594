"""The functions' metric names: the contract with the CDK app's alarms and dashboard.

Powertools Metrics writes them in EMF under namespace `Inlet` with one dimension,
`service` = the function's service name below (tests/infra holds the two together).
"""

from typing import Final

NAMESPACE: Final = "Inlet"

PARSE_SERVICE: Final = "parse"
INDEX_SERVICE: Final = "index"
RETENTION_SERVICE: Final = "retention"

EVENTS_RECEIVED: Final = "EventsReceived"  # parse, index
MESSAGES_PARSED: Final = "MessagesParsed"  # parse
MESSAGES_QUARANTINED: Final = "MessagesQuarantined"  # parse
MESSAGES_INDEXED: Final = "MessagesIndexed"  # index
MESSAGES_EXPIRED: Final = "MessagesExpired"  # retention
MESSAGES_HELD: Final = "MessagesHeld"  # retention
RETENTION_FAILURES: Final = "RetentionFailures"  # retention

EMITTED: Final[dict[str, tuple[str, ...]]] = {
    PARSE_SERVICE: (EVENTS_RECEIVED, MESSAGES_PARSED, MESSAGES_QUARANTINED),
    INDEX_SERVICE: (EVENTS_RECEIVED, MESSAGES_INDEXED),
    RETENTION_SERVICE: (MESSAGES_EXPIRED, MESSAGES_HELD, RETENTION_FAILURES),
}
