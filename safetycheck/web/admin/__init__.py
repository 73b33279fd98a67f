"""The admin pages: people, teams, undeliverable numbers and the escalation policy in force."""
