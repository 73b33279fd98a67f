"""Incidents: reports, the post-incident procedure, the register, households and risk markers."""
