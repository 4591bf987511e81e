"""The HTTP and WebSocket API of CONTRACT.md, one module per group of routes."""
