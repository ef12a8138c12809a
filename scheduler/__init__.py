"""The worker process: timers, dispatcher, watchdog and telephony providers."""
