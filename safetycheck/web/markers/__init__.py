"""The markers page: proposed household markers waiting for a second person, and reviews due."""
