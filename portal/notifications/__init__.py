"""Notifications: fan-out of opened alerts, delivery attempts on each channel, senders, the retry queue."""
