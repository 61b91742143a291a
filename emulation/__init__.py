"""Local emulation tooling for tests and development; never deployed."""
