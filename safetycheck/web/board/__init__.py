"""The manager's live board: open alarms, overdue, active and today's visits (/board)."""
