"""The HTTP and WebSocket API of docs/api.md, one module per group of routes."""
