"""Writers that put synthetic people on disk in the real datasets' own layouts and formats."""
