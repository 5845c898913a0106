"""The Lightroom loop: read a Lightroom Classic catalog (.lrcat) and its photos, ingest new photos, write
predictions back as XMP."""
