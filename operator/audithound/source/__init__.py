"""Source: audit bytes in, each with a position: live tail, finished files, line decoding."""
