"""The web process: create_app() and the phone tree's webhooks."""
