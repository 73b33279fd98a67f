"""The incident page: one incident's record, timeline, tracks and the procedure's steps."""
