"""Self-contained model modules (torch only, no konstrukt imports): used by konstrukt and copied verbatim into exported bundles."""
