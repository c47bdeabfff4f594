"""CloudWatch Embedded Metric Format: one JSON document per line on stdout, which CloudWatch
Logs turns into metrics (on ECS through the awslogs driver; locally it is just a log line).

The processes that are not Lambdas (the relay, `inlet up`'s webhook deliverer) write their own;
the functions use Powertools Metrics, which writes the same format.
"""

from typing import Any

NAMESPACE = "Inlet"
SERVICE_DIMENSION = "service"  # the dimension Powertools gives the functions' metrics too


def emf_document(
    stamp_ms: int,
    dimensions: list[list[str]],
    dims: dict[str, str],
    metrics: dict[str, tuple[Any, str]],
) -> dict[str, Any]:
    """One EMF document: `metrics` maps a name to (value or list of values, unit)."""
    doc: dict[str, Any] = {
        "_aws": {
            "Timestamp": stamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": dimensions,
                    "Metrics": [{"Name": k, "Unit": unit} for k, (_, unit) in metrics.items()],
                }
            ],
        },
        **dims,
    }
    doc.update({k: value for k, (value, _) in metrics.items()})
    return doc
