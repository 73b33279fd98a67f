"""The practitioner's phone page at /app: check in, extend, check out, panic, report."""
