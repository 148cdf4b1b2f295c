"""Guided conversations (ban estimator, screening, referral consent) as plain data and pure
functions: no Telegram imports. Empty until the first dialog lands."""
