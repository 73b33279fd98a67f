"""Escalation: the sweep, the policy, alarms, the SMS outbox and gateways, inbound SMS."""
