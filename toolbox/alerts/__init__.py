"""Alerts: rules over a schedule's rounds, the alerts they raise, and the channels that carry them."""
