"""fastbrc."""
