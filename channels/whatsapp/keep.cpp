// Keeps the WhatsApp libraries non-empty while the channel is being written.
