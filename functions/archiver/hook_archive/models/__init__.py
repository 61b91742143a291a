"""Typed models: configuration, hook results, checkpoint, events, Arrow schema."""
