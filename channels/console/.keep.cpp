// Keeps the library non-empty while the directory is being written.
