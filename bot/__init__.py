"""Safar's Telegram application: settings, wiring, handlers, storage and CLI."""
