"""Accounts: teams, users and their roles, phone tokens, passwords and duress PINs."""
