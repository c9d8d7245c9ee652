"""LiveKit room nodes: audio in and out, transcriptions, data packets."""
