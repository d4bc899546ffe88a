"""Events: the in-process hub, the cross-process bus on MongoDB, and the live feed to consoles."""
