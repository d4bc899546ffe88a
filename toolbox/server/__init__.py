"""The server process: configuration, the wiring of services, the Tornado app factory, start and stop."""
