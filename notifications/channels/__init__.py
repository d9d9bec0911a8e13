"""Channels: one module per kind (console now; webhook, chat robots, SMS and SMTP later)."""
