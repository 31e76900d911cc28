"""The Slack adapter: Bolt AsyncApp (HTTP or Socket Mode), Block Kit ChatPort, modals and buttons."""
