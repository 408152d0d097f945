"""engine: runs checked dunning policies over claims and keeps the audit trail."""
