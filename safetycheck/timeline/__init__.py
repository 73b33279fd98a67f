"""The append-only record: who did what to which visit, alarm or incident, and when."""
