"""The SMTP relay: aiosmtpd with a streamed DATA phase, writing through the message store."""
