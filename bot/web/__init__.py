"""aiohttp web layer: web chat API and page, Telegram webhook, admin page, health, metrics."""
