"""Groups: interest circles and who belongs to them."""
