"""The Lambda handler: Powertools decorators and one call into the logic."""
