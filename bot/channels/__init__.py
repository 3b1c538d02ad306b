"""Channel adapters: each turns platform payloads into Inbound and sends Replies."""
