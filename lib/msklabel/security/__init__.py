"""Request-input safety checks for the labeling server."""
