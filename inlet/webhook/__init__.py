"""Local webhook delivery: the signature, the durable outbox and the delivery worker."""
