"""The sweep engine: runs the parts the domain packages register, in their declared order."""
